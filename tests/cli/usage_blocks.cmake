# The usage blocks of the docs are `arborist help --markdown` output: each
# block between
#
#   <!-- arborist help --markdown ARGS -->
#   ...
#   <!-- end arborist help -->
#
# must be exactly what `arborist help --markdown ARGS` prints, so README.md,
# docs/*.md and `--help` (one table, cli/commands.cpp) cannot drift.
#
#   cmake -DARBORIST=... -DFILES="a.md;b.md" [-DUPDATE=ON] -P usage_blocks.cmake
#
# Fails on a differing block, on a block without its end marker, on ARGS
# that arborist refuses, and when no file has a block at all.  With
# -DUPDATE=ON the blocks are rewritten instead.
cmake_minimum_required(VERSION 3.20)
set(begin_tag "<!-- arborist help --markdown")
set(end_tag "<!-- end arborist help -->")
set(blocks 0)
set(bad 0)
foreach(file ${FILES})
  file(READ ${file} text)
  set(out "")
  set(file_blocks 0)
  set(rest "${text}")
  while(TRUE)
    string(FIND "${rest}" "${begin_tag}" at)
    if(at EQUAL -1)
      string(APPEND out "${rest}")
      break()
    endif()
    string(SUBSTRING "${rest}" 0 ${at} before)
    string(APPEND out "${before}")
    string(SUBSTRING "${rest}" ${at} -1 rest)
    string(FIND "${rest}" " -->\n" close)
    string(FIND "${rest}" "${end_tag}" stop)
    if(close EQUAL -1 OR stop EQUAL -1 OR stop LESS close)
      message(SEND_ERROR "${file}: a usage block without '${end_tag}'")
      math(EXPR bad "${bad} + 1")
      string(APPEND out "${rest}")
      break()
    endif()
    string(LENGTH "${begin_tag}" tag_len)
    math(EXPR args_len "${close} - ${tag_len}")
    string(SUBSTRING "${rest}" ${tag_len} ${args_len} args)
    string(STRIP "${args}" args)
    separate_arguments(arg_list UNIX_COMMAND "${args}")
    math(EXPR body_at "${close} + 5")
    math(EXPR body_len "${stop} - ${body_at}")
    string(SUBSTRING "${rest}" ${body_at} ${body_len} body)
    execute_process(COMMAND ${ARBORIST} help --markdown ${arg_list}
      OUTPUT_VARIABLE want ERROR_VARIABLE err RESULT_VARIABLE rc)
    math(EXPR blocks "${blocks} + 1")
    math(EXPR file_blocks "${file_blocks} + 1")
    if(NOT rc EQUAL 0)
      message(SEND_ERROR "${file}: 'arborist help --markdown ${args}' failed (${rc}): ${err}")
      math(EXPR bad "${bad} + 1")
    elseif(NOT body STREQUAL want)
      if(UPDATE)
        message(STATUS "${file}: block '${args}' rewritten")
      else()
        message(NOTICE "usage block differs: ${file}: arborist help --markdown ${args}")
        message(SEND_ERROR "${file}: the block 'arborist help --markdown ${args}' differs from what arborist "
                           "prints (regenerate with -DUPDATE=ON):\n--- in the file:\n${body}--- arborist prints:\n${want}")
        math(EXPR bad "${bad} + 1")
      endif()
    endif()
    string(SUBSTRING "${rest}" 0 ${body_at} head)
    string(APPEND out "${head}${want}")
    string(SUBSTRING "${rest}" ${stop} -1 rest)
  endwhile()
  if(UPDATE AND file_blocks GREATER 0 AND bad EQUAL 0 AND NOT out STREQUAL text)
    file(WRITE ${file} "${out}")
  endif()
endforeach()
if(blocks EQUAL 0)
  message(FATAL_ERROR "no usage block in ${FILES}: the check would pass vacuously")
endif()
if(bad GREATER 0)
  message(FATAL_ERROR "${bad} of ${blocks} usage block(s) differ from arborist help --markdown")
endif()
message(STATUS "usage blocks: ${blocks} match arborist help --markdown")
