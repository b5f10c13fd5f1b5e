# Lean binaries: the small clients that users run often (`skiff`, `skiff-img`) start
# in about a millisecond because libc and libm are their only shared libraries
# (docs/performance.md). They link the same module libraries as every other binary;
# skiff_lean(TARGET) marks one lean, and the modules' link interfaces (built with
# skiff_lean_or) then give it static stand-ins for the shared libraries that the
# other binaries load:
#   - fmt and spdlog: skiff_lean_runtime (src/base/lean/), their compiled parts
#     built from the installed headers;
#   - zlib and zstd: their static archives, when installed;
#   - libstdc++ and libgcc: -static-libstdc++ -static-libgcc.
# Sanitizer and fuzz builds keep the shared libstdc++, zlib and zstd (their
# runtimes want the shared libstdc++).

set(SKIFF_LEAN_STATIC OFF)
if(NOT SKIFF_SANITIZE AND NOT SKIFF_FUZZ AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  set(SKIFF_LEAN_STATIC ON)
endif()

set(SKIFF_LEAN_COMPRESS_LIBS ZLIB::ZLIB PkgConfig::ZSTD)
if(SKIFF_LEAN_STATIC)
  find_library(SKIFF_LIBZ_STATIC libz.a)
  find_library(SKIFF_LIBZSTD_STATIC libzstd.a)
  if(SKIFF_LIBZ_STATIC AND SKIFF_LIBZSTD_STATIC)
    set(SKIFF_LEAN_COMPRESS_LIBS ${SKIFF_LIBZ_STATIC} ${SKIFF_LIBZSTD_STATIC})
  endif()
endif()

# skiff_lean_or(VAR LEAN a b FULL c d): link items that give a and b to lean
# binaries and c and d to every other target (a library's own compilation
# included: it sees c and d's usage requirements).
function(skiff_lean_or var)
  cmake_parse_arguments(L "" "" "LEAN;FULL" ${ARGN})
  set(lean "$<BOOL:$<TARGET_PROPERTY:SKIFF_LEAN>>")
  set(items)
  foreach(i ${L_LEAN})
    list(APPEND items "$<${lean}:${i}>")
  endforeach()
  foreach(i ${L_FULL})
    list(APPEND items "$<$<NOT:${lean}>:${i}>")
  endforeach()
  set(${var} ${items} PARENT_SCOPE)
endfunction()

# skiff_lean(TARGET): links the executable TARGET as a lean binary (above).
function(skiff_lean target)
  set_target_properties(${target} PROPERTIES SKIFF_LEAN ON)
  # Start-up cost: only the libraries it calls, prelinked hash tables.
  target_link_options(${target} PRIVATE -Wl,-O1 -Wl,--as-needed -Wl,--hash-style=gnu)
  if(SKIFF_LEAN_STATIC)
    target_link_options(${target} PRIVATE -static-libstdc++ -static-libgcc)
  endif()
endfunction()
