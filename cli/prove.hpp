// SPDX-License-Identifier: GPL-2.0-only
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace arborist::cli {

enum class Format { table, json, markdown };

struct ProveOptions {
	Format format = Format::table;
	std::vector<std::string> filters;
	bool list_only = false;
	bool verbose = false;
	unsigned jobs = 1;
	unsigned timeout_ms = 60000;
};

int prove(const ProveOptions& o, std::ostream& out, std::ostream& err);
void print_version(std::ostream& out);

} // namespace arborist::cli
