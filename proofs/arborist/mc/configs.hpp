// SPDX-License-Identifier: GPL-2.0-only
//
// The model checker's named configurations (`arborist check NAME`): each a
// bounded world, a set of threads running impl/'s stepped operations, the
// properties checked, and the verdict recorded for it (docs/model-checking.md).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "arborist/mc/checker.hpp"

namespace arborist::mc {

struct McConfig {
	std::string name;
	std::string summary;
	std::string source;   // the thread or kernel code the configuration settles
	std::string expected; // "pass", or the name of the invariant a counterexample breaks
	std::function<Result(const Options&)> run;
	std::function<std::string()> promela; // empty: no Promela model for this configuration
};

const std::vector<McConfig>& mc_configs();
const McConfig* find_mc_config(const std::string& name);

struct RootConfig;
// The root-lifecycle configuration as a Promela model for SPIN: one
// d_step per atomic action of the checker's threads, the same variables,
// so that without reductions both tools store the same states.
std::string root_promela(const RootConfig& c);

} // namespace arborist::mc
