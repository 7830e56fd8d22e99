# CTests conform.fuzz and run.fuzz: build the fuzz target TARGET of
# tests/fuzz with clang-14 (-fsanitize=fuzzer,address,undefined) in a build
# directory of its own, then run it for SECONDS on a copy of the seed
# corpus CORPUS.  libFuzzer exits non-zero on a crash, a timeout (hang), a
# leak or a sanitizer report; so does this script.
#   -DSRC=... -DBUILD=... -DTARGET=conform_fuzz|scenario_fuzz -DCORPUS=DIR -DSECONDS=...
find_program(CLANGXX NAMES clang++-14 clang++ REQUIRED)
# A build directory configured from another source (the fuzz project used
# to live in conform/fuzz) is started afresh.
if(EXISTS ${BUILD}/CMakeCache.txt)
  file(STRINGS ${BUILD}/CMakeCache.txt home REGEX "^CMAKE_HOME_DIRECTORY:")
  if(NOT home STREQUAL "CMAKE_HOME_DIRECTORY:INTERNAL=${SRC}/tests/fuzz")
    file(REMOVE_RECURSE ${BUILD})
  endif()
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SRC}/tests/fuzz -B ${BUILD} -DCMAKE_CXX_COMPILER=${CLANGXX}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "configuring the fuzz build failed (scripts/bootstrap.sh fuzz installs clang-14 and libclang-rt-14-dev):\n${out}${err}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD} --target ${TARGET} -j2
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "building the fuzz target ${TARGET} failed:\n${out}${err}")
endif()
set(corpus ${BUILD}/corpus-${TARGET})
file(REMOVE_RECURSE ${corpus})
file(MAKE_DIRECTORY ${corpus})
file(GLOB seeds ${CORPUS}/*)
file(COPY ${seeds} DESTINATION ${corpus})
execute_process(COMMAND ${BUILD}/${TARGET} -max_total_time=${SECONDS} -timeout=20 -rss_limit_mb=2048
                        -print_final_stats=1 -artifact_prefix=${BUILD}/${TARGET}- ${corpus}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
string(REGEX MATCH "stat::number_of_executed_units: *[0-9]+" execs "${err}")
string(REGEX MATCH "cov: [0-9]+ ft: [0-9]+" cov "${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${TARGET} found a problem (exit ${rc}); the input is in ${BUILD}/:\n${err}")
endif()
message(STATUS "${TARGET}: ${SECONDS} s, ${execs}, ${cov}, no finding")
