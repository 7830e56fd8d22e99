// SPDX-License-Identifier: GPL-2.0-only
//
// Model-checking configurations as text (`*.mc`, docs/model-checking.md
// "Configuration files"): the system, its geometry, the implementation
// variants by the names of impl/arborist/impl/variant_names.hpp, the tasks
// with their operations' parameters, the properties checked and the
// recorded verdict.  The built-in configurations are such files
// (proofs/configs/), compiled into the binary; `arborist check FILE` reads
// one more.
#pragma once

#include <string>

#include "arborist/mc/configs.hpp"
#include "arborist/support/line_reader.hpp"

namespace arborist::mc {

// The longest line a configuration file may have.
inline constexpr std::size_t MC_CONFIG_MAX_LINE = 4096;

// One configuration.  Throws support::InputError naming the file, the line
// and the field ("FILE:LINE: KEY: message") for anything it does not
// accept; a file is read once, in bounded memory.
McConfig parse_mc_config(support::ByteSource& src);
McConfig parse_mc_config(const std::string& text, const std::string& name);

} // namespace arborist::mc
