# The example in docs/scenarios.md must be exactly what
# `arborist run scenarios/td-private-shared.scn` prints.
execute_process(COMMAND ${ARBORIST} run ${SCENARIO} OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "arborist run ${SCENARIO} failed (exit ${rc})")
endif()
file(READ ${DOC} doc)
string(FIND "${doc}" "```\n${out}```\n" at)
if(at EQUAL -1)
  message(FATAL_ERROR "the example in ${DOC} is stale: replace it with the output of\n  arborist run ${SCENARIO}\nwhich is now:\n${out}")
endif()
