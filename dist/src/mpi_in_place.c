/* MPI_IN_PLACE for the Rust side: its value is a macro of the MPI library's header (OpenMPI: (void *) 1,
   MPICH: (void *) -1), so it is read here, by the library's own compiler wrapper. */
#include <mpi.h>

void *const wengert_mpi_in_place = MPI_IN_PLACE;
