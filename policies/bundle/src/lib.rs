#[derive(Debug)]
pub struct BundledPolicy;
pub const ALL: &[BundledPolicy] = &[];
