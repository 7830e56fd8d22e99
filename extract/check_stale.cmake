# extract.headers_up_to_date: run arborist-extract into the build tree and
# fail if a checked-in header under extract/include/arborist/ differs.
#   -DEXTRACT=<arborist-extract> -DOUT=<dir> -DCHECKED_IN=<dir> -DHEADERS=<a.h,b.h,...>
string(REPLACE "," ";" headers "${HEADERS}")
file(REMOVE_RECURSE "${OUT}")
execute_process(COMMAND "${EXTRACT}" "${OUT}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "arborist-extract failed (${rc})")
endif()

file(GLOB generated RELATIVE "${OUT}" "${OUT}/*.h")
list(SORT generated)
set(expected ${headers})
list(SORT expected)
if(NOT generated STREQUAL expected)
  message(FATAL_ERROR "arborist-extract wrote {${generated}}, extract/CMakeLists.txt lists {${expected}}")
endif()

set(stale "")
foreach(h IN LISTS headers)
  execute_process(COMMAND "${CMAKE_COMMAND}" -E compare_files "${OUT}/${h}" "${CHECKED_IN}/${h}" RESULT_VARIABLE differs)
  if(differs)
    list(APPEND stale "${h}")
  endif()
endforeach()
if(stale)
  message(FATAL_ERROR "stale extracted headers: ${stale}\n"
                      "regenerate: <build>/extract/arborist-extract extract/include/arborist")
endif()
message(STATUS "extract/include/arborist is up to date (${headers})")
