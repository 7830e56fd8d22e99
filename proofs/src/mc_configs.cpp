// SPDX-License-Identifier: GPL-2.0-only
//
// The registry of named model-checking configurations and their recorded
// verdicts: the configuration files of proofs/configs/, compiled into the
// binary (proofs/configs/embed.cmake), read by the one reader of
// mc_config_file.cpp.  A verdict is what the checker finds; it is recorded
// in the file and asserted by tests/mc_test.cpp and the cli.check.* tests,
// so a change to the implementation that changes a verdict is noticed.
#include <algorithm>
#include <stdexcept>

#include "arborist/mc/config_file.hpp"
#include "arborist/mc/configs.hpp"

namespace arborist::mc {

// Generated: every proofs/configs/*.mc as {path, text}, sorted by path.
struct EmbeddedConfig {
	const char* path;
	const char* text;
};
extern const EmbeddedConfig embedded_mc_configs[];
extern const std::size_t embedded_mc_config_count;

namespace {

std::vector<McConfig> make_configs()
{
	std::vector<McConfig> v;
	for (std::size_t i = 0; i < embedded_mc_config_count; i++) {
		const EmbeddedConfig& e = embedded_mc_configs[i];
		McConfig c = parse_mc_config(e.text, e.path);
		if (std::any_of(v.begin(), v.end(), [&](const McConfig& o) { return o.name == c.name; }))
			throw support::InputError(e.path, 0, "configuration '" + c.name + "' is defined twice");
		v.push_back(std::move(c));
	}
	return v;
}

} // namespace

const std::vector<McConfig>& mc_configs()
{
	static const std::vector<McConfig> all = make_configs();
	return all;
}

const McConfig* find_mc_config(const std::string& name)
{
	const auto& all = mc_configs();
	auto it = std::find_if(all.begin(), all.end(), [&](const McConfig& c) { return c.name == name; });
	return it == all.end() ? nullptr : &*it;
}

} // namespace arborist::mc
