# FindCUnit.cmake - CUnit ships no CMake package; this finds it through pkg-config
# (cunit.pc from libcunit1-dev) with a plain header/library search as fallback.
# Sets CUnit_FOUND, CUnit_INCLUDE_DIRS, CUnit_LIBRARIES and the imported target CUnit::CUnit.
include(FindPackageHandleStandardArgs)
find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(PC_CUNIT QUIET cunit)
endif()
find_path(CUnit_INCLUDE_DIR CUnit/CUnit.h HINTS ${PC_CUNIT_INCLUDE_DIRS})
find_library(CUnit_LIBRARY NAMES cunit HINTS ${PC_CUNIT_LIBRARY_DIRS})
find_package_handle_standard_args(CUnit REQUIRED_VARS CUnit_LIBRARY CUnit_INCLUDE_DIR)
if(CUnit_FOUND)
  set(CUnit_INCLUDE_DIRS ${CUnit_INCLUDE_DIR})
  set(CUnit_LIBRARIES ${CUnit_LIBRARY})
  if(NOT TARGET CUnit::CUnit)
    add_library(CUnit::CUnit UNKNOWN IMPORTED)
    set_target_properties(CUnit::CUnit PROPERTIES IMPORTED_LOCATION "${CUnit_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${CUnit_INCLUDE_DIR}")
  endif()
endif()
mark_as_advanced(CUnit_INCLUDE_DIR CUnit_LIBRARY)
