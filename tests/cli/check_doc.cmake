# docs/obligations.md must be exactly what `arborist prove --markdown` prints.
# A generous per-call timeout: this test checks the text, not the speed, and a
# loaded CI machine must not turn a proof into UNKNOWN (exit 3) here.
execute_process(COMMAND ${ARBORIST} prove --markdown --timeout 900000 OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "arborist prove --markdown failed (exit ${rc})")
endif()
file(READ ${DOC} doc)
if(NOT out STREQUAL doc)
  file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/obligations.md.new "${out}")
  message(FATAL_ERROR "${DOC} is stale: regenerate it with\n  arborist prove --markdown > docs/obligations.md\n(new version written to ${CMAKE_CURRENT_BINARY_DIR}/obligations.md.new)")
endif()
