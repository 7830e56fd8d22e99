# Reliability of the commands themselves: bounded input, valid JSON on
# every --json path, honest exit statuses, linear cost.  Included from
# tests/CMakeLists.txt.

# Unit tests of the support layer, the incremental refinement checks and
# the solver's "unknown" verdict, in the one gtest binary.
target_sources(arborist_tests PRIVATE
  ${CMAKE_CURRENT_SOURCE_DIR}/support_test.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/refinement_incremental_test.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/engine_unknown_test.cpp)
target_link_libraries(arborist_tests PRIVATE arborist_support)
target_include_directories(arborist_tests PRIVATE ${PROJECT_SOURCE_DIR}/cli)

# The validator of --json outputs: the strict reader of cli/json.hpp.
add_executable(json_check ${CMAKE_CURRENT_SOURCE_DIR}/json_check.cpp)
target_link_libraries(json_check PRIVATE arborist_support)
target_include_directories(json_check PRIVATE ${PROJECT_SOURCE_DIR}/cli)

# Every --json path of prove and check on bad input prints one valid JSON
# document whose error and exit_status say what happened
# (tests/cli/json_outputs.cmake lists the cases).
foreach(case prove_bad_number prove_given_twice prove_unknown_option prove_two_formats prove_no_match prove_list
        prove_timeout check_bad_number check_unknown_configuration check_given_twice check_no_configuration
        check_list check_list_with_dot check_dot_unwritable check_dot_no_violation check_promela_unwritable
        check_violation check_violation_steps check_file check_file_bad bench_model)
  add_test(NAME cli.json.${case}
    COMMAND ${CMAKE_COMMAND} -DARBORIST=$<TARGET_FILE:arborist> -DJSON_CHECK=$<TARGET_FILE:json_check>
            -DSRC=${PROJECT_SOURCE_DIR}
            -DCASE=${case} -DWORK=${CMAKE_CURRENT_BINARY_DIR}/json-outputs/${case}
            -P ${CMAKE_CURRENT_SOURCE_DIR}/cli/json_outputs.cmake)
endforeach()

# A report lost to a full disk is an error (exit 2), for every command.
foreach(case run check prove version conform)
  add_test(NAME cli.full_disk.${case}
    COMMAND ${CMAKE_COMMAND} -DARBORIST=$<TARGET_FILE:arborist> -DCASE=${case} -DSRC=${PROJECT_SOURCE_DIR}
            -P ${CMAKE_CURRENT_SOURCE_DIR}/cli/full_disk.cmake)
endforeach()

# arborist run's input: standard input, a directory, an endless or long
# line, control bytes in a field, a repeated option, a line of many
# distinct words (tests/cli/run_input.cmake).
foreach(case stdin directory dev_zero long_line control_bytes given_twice distinct_words missing_file)
  add_test(NAME scenario.input.${case}
    COMMAND ${CMAKE_COMMAND} -DARBORIST=$<TARGET_FILE:arborist> -DCASE=${case} -DSRC=${PROJECT_SOURCE_DIR}
            -DWORK=${CMAKE_CURRENT_BINARY_DIR}/run-input/${case} -P ${CMAKE_CURRENT_SOURCE_DIR}/cli/run_input.cmake)
  set_tests_properties(scenario.input.${case} PROPERTIES TIMEOUT 60)
endforeach()

# The growth benchmark (tools/growth/growth.sh) at its base sizes: every
# shape of input for run and conform at 1x, 2x, 4x and 8x; fails when a
# fitted growth exponent exceeds 1.3.  Run alone: it measures time.
find_program(BASH_PROGRAM bash)
if(BASH_PROGRAM)
  add_test(NAME cli.growth
    COMMAND ${BASH_PROGRAM} ${PROJECT_SOURCE_DIR}/tools/growth/growth.sh --arborist $<TARGET_FILE:arborist>
            --reps 3 --max-exponent 1.3 --work ${CMAKE_CURRENT_BINARY_DIR}/growth)
  set_tests_properties(cli.growth PROPERTIES TIMEOUT 600 RUN_SERIAL TRUE)
endif()

# A plain EPT VM that faults a GPA with bit 47 set: its trace is EPT without
# TDX (only a TDX event names TDX), with that GPA's GFN as it is.
add_test(NAME cli.run_trace_conforms.plain-ept-gpa-bit47
  COMMAND ${CMAKE_COMMAND} -DARBORIST=$<TARGET_FILE:arborist>
          -DSCENARIO=${CMAKE_CURRENT_SOURCE_DIR}/data/reliability/plain-ept-gpa-bit47.scn
          -DWORK=${CMAKE_CURRENT_BINARY_DIR}/run-trace/plain-ept-gpa-bit47 -DPROFILE=linux-6.12-ept
          -P ${CMAKE_CURRENT_SOURCE_DIR}/cli/run_trace_conforms.cmake)
# A TD's shared 2M fault maps the huge page's head frame, as the plain VM's
# does (kvm_mmu_hugepage_adjust()): its trace conforms.
add_test(NAME cli.run_trace_conforms.td-shared-huge-unaligned-pfn
  COMMAND ${CMAKE_COMMAND} -DARBORIST=$<TARGET_FILE:arborist>
          -DSCENARIO=${CMAKE_CURRENT_SOURCE_DIR}/data/reliability/td-shared-huge-unaligned-pfn.scn
          -DWORK=${CMAKE_CURRENT_BINARY_DIR}/run-trace/td-shared-huge-unaligned-pfn -DPROFILE=linux-6.19-tdx
          -P ${CMAKE_CURRENT_SOURCE_DIR}/cli/run_trace_conforms.cmake)
