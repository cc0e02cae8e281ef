//! Writes the policy's lookup table: TAILOR_SIZED_POLICY_KB kibibytes (default 10) of
//! deterministic, incompressible bytes.

fn main() {
    println!("cargo:rerun-if-env-changed=TAILOR_SIZED_POLICY_KB");
    let kib: usize = std::env::var("TAILOR_SIZED_POLICY_KB")
        .ok()
        .map_or(10, |v| {
            v.parse().expect("TAILOR_SIZED_POLICY_KB: a number of KiB")
        });
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let table: Vec<u8> = (0..kib * 1024)
        .map(|_| {
            // xorshift64*
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect();
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    std::fs::write(out.join("table.bin"), table).expect("writing the table");
}
