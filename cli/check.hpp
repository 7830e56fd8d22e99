// SPDX-License-Identifier: GPL-2.0-only
//
// arborist check: run a named model-checking configuration
// (docs/model-checking.md).
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace arborist::cli {

// Exit status: 0 every configuration run gave its recorded verdict; 1 some
// did not; 2 usage error (unknown configuration or option, unwritable file).
int check_main(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

} // namespace arborist::cli
