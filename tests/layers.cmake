# Layers point down only (docs/spec.md "Layers").  Every #include "..." of
# a source file in a layer's folder must resolve to a file of the same layer
# or of a lower one:
#
#   0 support/               line input, JSON, text, hex
#   1 spec/arborist/abi/     the SEAMCALL ABI
#   2 spec/                  the rules
#   3 hw/                    SEAMCALL backends (simulated module, native)
#   4 impl/                  the executable TDP MMU and TDX glue
#   5 proofs/ conform/ extract/   each on its own; none includes another
#   6 cli/                   the arborist command
#
# Tests (tests/, */tests/) and fuzz drivers may include anything.
#
#   cmake -DSOURCE_DIR=<repo> -P tests/layers.cmake
set(layers support spec_abi spec hw impl proofs conform extract cli)
set(rank_support 0)
set(rank_spec_abi 1)
set(rank_spec 2)
set(rank_hw 3)
set(rank_impl 4)
set(rank_proofs 5)
set(rank_conform 5)
set(rank_extract 5)
set(rank_cli 6)

# The layer of a path relative to SOURCE_DIR, or "" for tests and tools.
function(layer_of path out)
  set(l "")
  if(path MATCHES "(^|/)(tests|fuzz)/")
    set(l "")
  elseif(path MATCHES "^spec/arborist/abi/")
    set(l spec_abi)
  elseif(path MATCHES "^(support|spec|hw|impl|proofs|conform|extract|cli)/")
    set(l ${CMAKE_MATCH_1})
  endif()
  set(${out} "${l}" PARENT_SCOPE)
endfunction()

# Where an include "name" written in file `from` resolves: the including
# file's folder first, then the include roots the CMake targets export.
function(resolve from name out)
  get_filename_component(dir ${from} DIRECTORY)
  set(r "")
  foreach(root "${dir}" support spec hw impl proofs extract/include "")
    if(root STREQUAL "")
      set(cand "${name}")
    else()
      set(cand "${root}/${name}")
    endif()
    if(EXISTS "${SOURCE_DIR}/${cand}" AND NOT IS_DIRECTORY "${SOURCE_DIR}/${cand}")
      file(RELATIVE_PATH rel "${SOURCE_DIR}" "${SOURCE_DIR}/${cand}")
      set(r "${rel}")
      break()
    endif()
  endforeach()
  set(${out} "${r}" PARENT_SCOPE)
endfunction()

cmake_policy(SET CMP0009 NEW)
set(files "")
foreach(d support spec hw impl proofs conform extract cli)
  file(GLOB_RECURSE some RELATIVE ${SOURCE_DIR}
       ${SOURCE_DIR}/${d}/*.hpp ${SOURCE_DIR}/${d}/*.cpp ${SOURCE_DIR}/${d}/*.h ${SOURCE_DIR}/${d}/*.c)
  list(APPEND files ${some})
endforeach()
set(bad "")
set(checked 0)
foreach(f IN LISTS files)
  if(f MATCHES "^build/")
    continue()
  endif()
  layer_of(${f} from_layer)
  if(from_layer STREQUAL "")
    continue()
  endif()
  file(STRINGS ${SOURCE_DIR}/${f} incs REGEX "^[ \t]*#[ \t]*include[ \t]+\"")
  foreach(line IN LISTS incs)
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]+\"([^\"]+)\".*" "\\1" name "${line}")
    resolve(${f} ${name} target)
    if(target STREQUAL "")
      continue() # generated (the build tree) or a system header in quotes
    endif()
    layer_of(${target} to_layer)
    if(to_layer STREQUAL "")
      string(APPEND bad "${f}: includes ${name} (${target}), which belongs to no layer\n")
      continue()
    endif()
    math(EXPR checked "${checked} + 1")
    if(to_layer STREQUAL from_layer)
      continue()
    endif()
    if(rank_${to_layer} GREATER rank_${from_layer}
       OR (rank_${to_layer} EQUAL rank_${from_layer}))
      string(APPEND bad "${f} (${from_layer}): includes ${name}, which is ${target} (${to_layer}): "
                        "a layer may include only lower layers\n")
    endif()
  endforeach()
endforeach()
if(checked EQUAL 0)
  message(FATAL_ERROR "no include was checked under ${SOURCE_DIR}")
endif()
if(NOT bad STREQUAL "")
  message("${bad}")
  message(FATAL_ERROR "the includes above run up or across a layer")
endif()
message("layers: ${checked} includes between layer folders point down")
