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
	std::string file;     // the configuration file it was read from
	std::string system;   // "tdx" or "root"
	std::vector<std::string> properties; // the system's properties it checks
	bool deadlock = true, termination = true; // the checker's own
	bool deep = false; // tier deep: left to the default build's cli.check_deep
	std::function<Result(const Options&)> run_system;
	std::function<std::string()> promela; // empty: no Promela model for this configuration

	// Check it: the caller's options, less the checker properties the
	// configuration leaves out.
	Result run(Options o) const
	{
		o.deadlock = o.deadlock && deadlock;
		o.termination = o.termination && termination;
		return run_system(o);
	}
};

// The built-in configurations: the files of proofs/configs/, compiled in,
// in file-name order.
const std::vector<McConfig>& mc_configs();
const McConfig* find_mc_config(const std::string& name);

struct RootConfig;
// The root-lifecycle configuration as a Promela model for SPIN: one
// d_step per atomic action of the checker's threads, the same variables,
// so that without reductions both tools store the same states.
std::string root_promela(const RootConfig& c);

} // namespace arborist::mc
