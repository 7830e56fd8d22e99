// SPDX-License-Identifier: GPL-2.0-only
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>

namespace arborist::cli {

// variant: "dynamic", "deferred" or "both".  Returns the exit status.
int bench_teardown(std::uint64_t pages, const std::string& variant, std::ostream& out, std::ostream& err);

// The cost model of TD teardown (`bench teardown --model`): the reference's
// per-page events at 1/scale of each published row's size, priced by
// per-event costs fitted to the first row; measured vs predicted.
int bench_teardown_model(std::uint64_t scale, bool json, std::ostream& out, std::ostream& err);

// States/s of arborist's model checker and of SPIN on the root-lifecycle
// configuration with `iterators` iterator tasks; variant "v6.19" or
// "dec-and-test".  Returns the exit status (1 when the tools disagree).
int bench_check(unsigned iterators, const std::string& variant, std::ostream& out, std::ostream& err);

} // namespace arborist::cli
