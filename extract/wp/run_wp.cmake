# extract.wp: Frama-C WP on extract/wp/all.c, which includes every generated
# header and calls each function.  Provers: WP's own simplifier Qed, then Z3
# through Why3 (Debian 12 has no Alt-Ergo), with WP's built-in tactics
# (-wp-auto) for the bit-level goals Qed leaves.  One WP run per header, so
# the report gives goals proved/total per file; fails on any unproved goal.
#   -DSOURCE_DIR=<repo> -DWORK=<build dir> -DINCLUDE=<extract/include>
#   [-DONLY=<header stem,...>]   e.g. -DONLY=tlb,root: only those headers
cmake_minimum_required(VERSION 3.25)

set(HEADERS spte_ept spte_npt gfn tlb root mirror_hook sept_flags sept)
if(ONLY)
  string(REPLACE "," ";" HEADERS "${ONLY}")
endif()
set(TIMEOUT 5)  # seconds per prover call
set(JOBS 2)

# The packages (frama-c-base, why3, z3): scripts/bootstrap.sh is idempotent.
execute_process(COMMAND "${SOURCE_DIR}/scripts/bootstrap.sh" extract RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "scripts/bootstrap.sh extract failed (${rc})")
endif()
foreach(tool frama-c why3 z3)
  find_program(have_${tool} ${tool})
  if(NOT have_${tool})
    message(FATAL_ERROR "${tool} not found after scripts/bootstrap.sh extract")
  endif()
endforeach()

function(show_version label)
  execute_process(COMMAND ${ARGN} OUTPUT_VARIABLE out ERROR_VARIABLE out OUTPUT_STRIP_TRAILING_WHITESPACE)
  string(STRIP "${out}" out)
  message("${label}: ${out}")
endfunction()
show_version("frama-c -version" frama-c -version)
show_version("why3 --version" why3 --version)
show_version("z3 --version" z3 --version)

# A Why3 configuration of our own, in the build tree (WHY3CONFIG), and a
# fresh WP session: every run proves every goal again.
file(REMOVE_RECURSE "${WORK}/session")
file(MAKE_DIRECTORY "${WORK}")
set(conf "${WORK}/why3.conf")
execute_process(COMMAND why3 config detect -C "${conf}" OUTPUT_QUIET ERROR_QUIET RESULT_VARIABLE rc)
file(READ "${conf}" conf_text)
if(NOT rc EQUAL 0 OR NOT conf_text MATCHES "name = \"Z3\"")
  message(FATAL_ERROR "why3 config detect -C ${conf} found no Z3 (rc ${rc})")
endif()
set(ENV{WHY3CONFIG} "${conf}")

# (CERT:EXP:46: sept.h's conditions use & and | on bool on purpose.)
set(wp_options -wp -wp-rte -wp-prover z3 -wp-timeout ${TIMEOUT} -wp-par ${JOBS}
    -wp-auto wp:split,wp:bitwised,wp:bittestrange,wp:bitrange -wp-session "${WORK}/session"
    "-cpp-extra-args=-I${INCLUDE}" -kernel-warn-key CERT:EXP:46=inactive)

string(TIMESTAMP start "%s")
set(total_proved 0)
set(total_goals 0)
set(failed "")
set(table "")
# One frama-c run on the functions FCTS (comma-separated) with EXTRA options;
# adds to proved/goals and to the unproved list of header H.
function(wp_run h log fcts)
  execute_process(COMMAND frama-c ${wp_options} ${ARGN} -wp-fct "${fcts}" "${SOURCE_DIR}/extract/wp/all.c"
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  file(WRITE "${WORK}/${log}.log" "${out}${err}")
  if(NOT out MATCHES "Proved goals: +([0-9]+) / ([0-9]+)")
    message(FATAL_ERROR "frama-c on ${h}.h (rc ${rc}): no goal count\n${out}${err}")
  endif()
  math(EXPR p "${proved} + ${CMAKE_MATCH_1}")
  math(EXPR g "${goals} + ${CMAKE_MATCH_2}")
  set(proved ${p} PARENT_SCOPE)
  set(goals ${g} PARENT_SCOPE)
  if(NOT rc EQUAL 0 OR NOT CMAKE_MATCH_1 EQUAL CMAKE_MATCH_2)
    string(REGEX MATCHALL "\\[wp\\] \\[[^]]*\\] Goal [a-zA-Z0-9_]+ : (Failed|Timeout|Unknown)[^\n]*|\\[wp\\] \\[Failed\\] Goal [a-zA-Z0-9_]+" bad "${out}")
    set(failed ${failed} "${h}.h: ${bad}" PARENT_SCOPE)
  endif()
endfunction()

foreach(h IN LISTS HEADERS)
  # The functions of the header, and its caller in all.c.  (The return type
  # may be "struct x".)
  file(STRINGS "${INCLUDE}/arborist/${h}.h" sigs REGEX "^static inline [a-z0-9_ ]+ [a-z0-9_]+\\(")
  set(fcts "wp_use_${h}")
  set(checks "")
  foreach(sig IN LISTS sigs)
    string(REGEX REPLACE "^static inline [a-z0-9_ ]+ ([a-z0-9_]+)\\(.*" "\\1" fn "${sig}")
    if(h STREQUAL "sept" AND fn MATCHES "_status$")
      string(APPEND checks ",${fn}")
    else()
      string(APPEND fcts ",${fn}")
    endif()
  endforeach()
  string(TIMESTAMP t0 "%s")
  set(proved 0)
  set(goals 0)
  wp_run(${h} ${h} "${fcts}")
  if(checks)
    # sept.h's check chains (the *_status functions): WP's let-bindings make
    # Qed take minutes on one chain; without them each goal takes
    # milliseconds.  (-wp-no-let makes the leaves' effects slower instead.)
    string(SUBSTRING "${checks}" 1 -1 checks)
    wp_run(${h} ${h}_status "${checks}" -wp-no-let)
  endif()
  string(TIMESTAMP t1 "%s")
  math(EXPR secs "${t1} - ${t0}")
  math(EXPR total_proved "${total_proved} + ${proved}")
  math(EXPR total_goals "${total_goals} + ${goals}")
  string(APPEND table "  ${h}.h: ${proved} / ${goals} goals proved, ${secs} s\n")
endforeach()
string(TIMESTAMP stop "%s")
math(EXPR wall "${stop} - ${start}")

message("Frama-C WP (Qed + Z3 via Why3, timeout ${TIMEOUT} s per call, ${JOBS} jobs):\n${table}"
        "  total: ${total_proved} / ${total_goals} goals proved in ${wall} s (logs: ${WORK}/*.log)")
if(failed)
  string(REPLACE ";" "\n" failed "${failed}")
  message(FATAL_ERROR "unproved goals:\n${failed}")
endif()
