# The tree is self-contained: no tracked file cites material outside the
# repository (notes, seeds, traces or reproducers under a "shared" folder)
# or explains itself by the history of its making (issue numbers, a
# brief).  docs/sources.md lists the public sources to cite instead.
#
#   cmake -DSOURCE_DIR=<repo> [-DGIT=<git>] -P tests/self_contained.cmake
#
# With git and a work tree, every tracked file is searched (git grep);
# otherwise (a source tarball) the text files found by GLOB_RECURSE.
set(patterns
  "shared/(seeds|research|traces|reproducers)"
  "/work/shared"
  "\\.\\./shared/"
  "\\[RESEARCH\\]"
  "linux-kvm-tdx\\.md|tdx-module-sept\\.md|formal-anchors\\.md"
  "[Rr]esearch note"
  "[Ii]ssue #?[0-9]+"
  "project brief"
  "[Tt]he brief")
list(JOIN patterns "|" regex)
set(self "tests/self_contained.cmake")

if(GIT AND EXISTS "${SOURCE_DIR}/.git")
  execute_process(COMMAND ${GIT} -C ${SOURCE_DIR} grep -n -I -E "${regex}" -- . ":!${self}" ":!build"
                  OUTPUT_VARIABLE hits RESULT_VARIABLE rc)
  if(rc EQUAL 1)
    return()
  elseif(NOT rc EQUAL 0)
    message(FATAL_ERROR "git grep failed (exit ${rc}) in ${SOURCE_DIR}")
  endif()
else()
  file(GLOB_RECURSE files RELATIVE ${SOURCE_DIR}
       ${SOURCE_DIR}/*.hpp ${SOURCE_DIR}/*.cpp ${SOURCE_DIR}/*.h ${SOURCE_DIR}/*.c ${SOURCE_DIR}/*.md
       ${SOURCE_DIR}/*.txt ${SOURCE_DIR}/*.cmake ${SOURCE_DIR}/*.sh ${SOURCE_DIR}/*.bt ${SOURCE_DIR}/*.scn
       ${SOURCE_DIR}/*.mc ${SOURCE_DIR}/*.pml ${SOURCE_DIR}/*.py)
  set(hits "")
  foreach(f IN LISTS files)
    if(f MATCHES "^build/" OR f STREQUAL self)
      continue()
    endif()
    file(STRINGS ${SOURCE_DIR}/${f} lines REGEX "${regex}")
    foreach(l IN LISTS lines)
      string(APPEND hits "${f}: ${l}\n")
    endforeach()
  endforeach()
  if(hits STREQUAL "")
    return()
  endif()
endif()
message("${hits}")
message(FATAL_ERROR "the lines above cite material outside the repository or how it was built; "
                    "cite the public sources of docs/sources.md instead")
