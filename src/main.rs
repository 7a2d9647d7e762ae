fn main() {
    println!("netvrrp");
}
