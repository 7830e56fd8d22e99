# CTest conform.tdx_scenarios: the TDX trace of every TD scenario (and the
# plain EPT one) is accepted by `arborist conform` with 0 violations, and
# tests/data/tdx/NAME.trace is what `arborist run --trace` writes today.
# -DARBORIST=... -DSRC=... -DOUT=...
file(MAKE_DIRECTORY ${OUT})
foreach(name td-deferred-teardown td-huge-split td-private-shared td-teardown td-zap-and-busy direct-invalidate-zap)
  execute_process(COMMAND ${ARBORIST} run ${SRC}/scenarios/${name}.scn --quiet --trace ${OUT}/${name}.trace
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "arborist run ${name}.scn --trace: exit ${rc}\n${out}${err}")
  endif()
  execute_process(COMMAND ${ARBORIST} conform ${OUT}/${name}.trace
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0 OR NOT out MATCHES ": 0 violations\n")
    message(FATAL_ERROR "arborist conform ${name}.trace: exit ${rc}\n${out}${err}")
  endif()
  if(NOT name STREQUAL "direct-invalidate-zap" AND NOT out MATCHES "profile linux-6.19-tdx")
    message(FATAL_ERROR "${name}.trace: not inferred as linux-6.19-tdx\n${out}")
  endif()
  file(READ ${OUT}/${name}.trace generated)
  file(READ ${SRC}/tests/data/tdx/${name}.trace fixture)
  string(REPLACE "${SRC}/" "" generated "${generated}")
  if(NOT generated STREQUAL fixture)
    message(FATAL_ERROR "tests/data/tdx/${name}.trace is stale: regenerate it (tests/data/tdx/README.md)")
  endif()
  message(STATUS "${name}: accepted, fixture up to date")
endforeach()
