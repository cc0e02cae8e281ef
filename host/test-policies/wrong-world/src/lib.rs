//! A well-formed component that implements some other world.
wit_bindgen::generate!({
    inline: "
        package acme:greeter;
        world greeter {
            export greet: func(name: string) -> string;
        }
    ",
});

struct Greeter;

impl Guest for Greeter {
    fn greet(name: String) -> String {
        format!("hello {name}")
    }
}

export!(Greeter);
