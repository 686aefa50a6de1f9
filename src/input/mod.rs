//! Reading input files: placeholder until the input issue lands.
