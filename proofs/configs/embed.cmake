# Writes OUT, a C++ source holding every DIR/*.mc as {path, text}, sorted by
# path (proofs/src/mc_configs.cpp reads them with the configuration reader).
# Run by the build whenever a configuration file changes.
file(GLOB files RELATIVE ${DIR} ${DIR}/*.mc)
list(SORT files)
set(body "")
set(n 0)
foreach(f IN LISTS files)
  file(READ ${DIR}/${f} text)
  string(FIND "${text}" ")arborist_mc\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${DIR}/${f} contains the raw-string delimiter )arborist_mc\"")
  endif()
  string(APPEND body "\t{\"proofs/configs/${f}\", R\"arborist_mc(${text})arborist_mc\"},\n")
  math(EXPR n "${n} + 1")
endforeach()
file(WRITE ${OUT}.tmp "// Generated from proofs/configs/*.mc by proofs/configs/embed.cmake: do not edit.\n#include <cstddef>\nnamespace arborist::mc {\nstruct EmbeddedConfig {\n\tconst char* path;\n\tconst char* text;\n};\nextern const EmbeddedConfig embedded_mc_configs[] = {\n${body}};\nextern const std::size_t embedded_mc_config_count = ${n};\n} // namespace arborist::mc\n")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
