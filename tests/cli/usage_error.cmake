# A usage error of any command: exit status 2 and exactly
#   arborist CMD: WHAT
#   (run 'arborist CMD --help' for usage)
# on stderr, nothing on stdout.
#   cmake -DARBORIST=... "-DCMD=bench teardown" "-DARGS=--frobnicate" "-DWHAT=unknown option '--frobnicate'" -P usage_error.cmake
separate_arguments(cmd_words UNIX_COMMAND "${CMD}")
separate_arguments(arg_words UNIX_COMMAND "${ARGS}")
execute_process(COMMAND ${ARBORIST} ${cmd_words} ${arg_words}
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
set(want "arborist ${CMD}: ${WHAT}\n(run 'arborist ${CMD} --help' for usage)\n")
if(NOT rc EQUAL 2 OR NOT err STREQUAL want OR NOT out STREQUAL "")
  message(FATAL_ERROR "arborist ${CMD} ${ARGS}: exit ${rc} (want 2)\nstderr:\n${err}want:\n${want}stdout:\n${out}")
endif()
