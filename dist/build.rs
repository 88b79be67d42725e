//! With the `mpi` feature: compiles `src/mpi_in_place.c`, which exports the MPI library's `MPI_IN_PLACE`
//! (a macro whose value differs between MPI implementations, and which the `mpi` crate does not expose), with
//! the MPI library's own C compiler wrapper or include paths, found as the `mpi` crate finds them.

fn main() {
    #[cfg(feature = "mpi")]
    {
        println!("cargo:rerun-if-changed=src/mpi_in_place.c");
        let lib = build_probe_mpi::probe().unwrap_or_else(|errs| {
            let why: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
            panic!("the `mpi` feature needs an MPI library (apt-get install libopenmpi-dev): {}", why.join("; "))
        });
        let mut build = cc::Build::new();
        build.file("src/mpi_in_place.c");
        match lib.mpicc {
            Some(mpicc) => {
                build.compiler(mpicc);
            }
            None => {
                for inc in &lib.include_paths {
                    build.include(inc);
                }
            }
        }
        build.compile("wengert_mpi_in_place");
    }
}
