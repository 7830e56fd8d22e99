// SPDX-License-Identifier: GPL-2.0-only
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>

namespace arborist::cli {

// variant: "dynamic", "deferred" or "both".  Returns the exit status.
int bench_teardown(std::uint64_t pages, const std::string& variant, std::ostream& out, std::ostream& err);

} // namespace arborist::cli
