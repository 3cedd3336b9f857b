# Dependencies of the oneclass INTERFACE target, found the same way in this build and in an
# installed package's config (oneclassConfig.cmake includes this file). Debian packages only.
include(CMakeFindDependencyMacro)
find_dependency(Eigen3 3.3)
find_dependency(xtl)
find_dependency(xsimd)
find_dependency(xtensor)
find_dependency(xtensor-blas)
find_dependency(TBB)
find_dependency(ZLIB)

# CBLAS: OpenBLAS by preference (its cblas.h and openblas_set_num_threads). The result is one
# imported target, oneclass::blas, so that consumers never repeat this search.
if(NOT TARGET oneclass::blas)
  find_package(OpenBLAS CONFIG QUIET)
  if(OpenBLAS_FOUND)
    set(_oneclass_blas_lib "${OpenBLAS_LIBRARIES}")
    set(_oneclass_blas_inc "${OpenBLAS_INCLUDE_DIRS}")
  else()
    find_library(_oneclass_blas_lib NAMES openblas cblas blas REQUIRED)
    find_path(_oneclass_blas_inc NAMES cblas.h PATH_SUFFIXES openblas REQUIRED)
  endif()
  add_library(oneclass::blas INTERFACE IMPORTED)
  set_target_properties(oneclass::blas PROPERTIES
    INTERFACE_LINK_LIBRARIES "${_oneclass_blas_lib}"
    INTERFACE_INCLUDE_DIRECTORIES "${_oneclass_blas_inc}")
endif()

# Image codecs: libpng and libjpeg-turbo (Debian libpng-dev, libjpeg-dev), fuzzed upstream and
# patched by the distribution; see include/oneclass/data/image_codecs.hpp.
find_dependency(PNG)
find_dependency(JPEG)

# CSV: libcsv (Debian libcsv-dev), the RFC 4180 parser and quoting of data/csv.hpp. It ships no
# CMake config; one imported target, as for BLAS.
if(NOT TARGET oneclass::csv)
  find_library(_oneclass_csv_lib NAMES csv REQUIRED)
  find_path(_oneclass_csv_inc NAMES csv.h REQUIRED)
  add_library(oneclass::csv INTERFACE IMPORTED)
  set_target_properties(oneclass::csv PROPERTIES
    INTERFACE_LINK_LIBRARIES "${_oneclass_csv_lib}"
    INTERFACE_INCLUDE_DIRECTORIES "${_oneclass_csv_inc}")
endif()
