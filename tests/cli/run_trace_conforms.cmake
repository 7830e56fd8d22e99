# A trace that `arborist run --trace` writes conforms: `arborist conform`
# infers the right profile (never TDX for a plain VM) and finds nothing.
#   -DARBORIST=... -DSCENARIO=... -DWORK=... -DPROFILE=<expected profile>
file(MAKE_DIRECTORY ${WORK})
execute_process(COMMAND ${ARBORIST} run ${SCENARIO} --trace ${WORK}/trace.txt
  RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "arborist run ${SCENARIO} exited ${rc}: ${err}")
endif()
execute_process(COMMAND ${ARBORIST} conform ${WORK}/trace.txt
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "trace.txt: 0 violations")
  message(FATAL_ERROR "arborist conform of the run's trace exited ${rc}:\n${out}${err}")
endif()
if(NOT out MATCHES "profile ${PROFILE} \\(inferred")
  message(FATAL_ERROR "the run's trace was not inferred as ${PROFILE}:\n${out}")
endif()
