// SPDX-License-Identifier: GPL-2.0-only
//
// tools/arborist-tdx*.bt cannot run here (no TDX host, no bpftrace
// needed): every printf format of the scripts is rendered with sample
// values, with C's printf (bpftrace's conversions are C's), and the line
// must be one `arborist conform` parses: a well-formed ftrace line, a TDX
// event of docs/trace-format.md, a payload that decodes field by field.
// And every TDX event and hook of the format is printed by some script.
#include <gtest/gtest.h>

#include <cstdio>
#include <regex>
#include <set>

#include "trace_fixture.hpp"

namespace arborist::conform::test {
namespace {

const std::string TOOLS = ARBORIST_TOOLS_DIR;

std::vector<std::string> printf_formats(const std::string& file)
{
	const std::string text = read_file(file);
	std::vector<std::string> out;
	static const std::regex re(R"re(printf\("((?:[^"\\]|\\.)*)")re");
	for (std::sregex_iterator it(text.begin(), text.end(), re), end; it != end; ++it) {
		std::string f = (*it)[1];
		// C escapes the scripts use.
		for (std::size_t p; (p = f.find("\\n")) != std::string::npos;)
			f.replace(p, 2, "\n");
		out.push_back(f);
	}
	return out;
}

// Renders one format: each conversion gets a sample value chosen by the
// word before it (the field it prints).
std::string render(const std::string& fmt)
{
	static const std::regex conv(R"(%[-0-9]*(ll|l)?[sdux])");
	std::string out;
	std::size_t pos = 0;
	int nth_llu = 0;
	for (std::sregex_iterator it(fmt.begin(), fmt.end(), conv), end; it != end; ++it) {
		const std::size_t at = static_cast<std::size_t>(it->position());
		out += fmt.substr(pos, at - pos);
		const std::string spec = it->str();
		const char type = spec.back();
		// the word before the conversion
		std::string before = fmt.substr(0, at);
		while (!before.empty() && before.back() == ' ')
			before.pop_back();
		const std::string word = before.substr(before.find_last_of(" :[") + 1);
		char buf[128];
		if (type == 's')
			std::snprintf(buf, sizeof(buf), spec.c_str(), "qemu-system-x86");
		else if (type == 'u' && spec.find("ll") != std::string::npos)
			std::snprintf(buf, sizeof(buf), spec.c_str(), nth_llu++ == 0 ? 1234ull : 567890ull);
		else if (type == 'u')
			std::snprintf(buf, sizeof(buf), spec.c_str(), word == "x86_phys_bits" ? 46u : word == "pwl" ? 5u : 1u);
		else if (type == 'd')
			std::snprintf(buf, sizeof(buf), spec.c_str(), word == "ret" ? -16 : word == "level" ? 1 : 4321);
		else
			std::snprintf(buf, sizeof(buf), spec.c_str(), word == "status" ? 0x8000020000000092ull : 0x10000c000ull);
		out += buf;
		pos = at + spec.size();
	}
	out += fmt.substr(pos);
	if (!out.empty() && out.back() == '\n')
		out.pop_back();
	return out;
}

TEST(BpftraceFormats, EveryPrintfIsATdxEventTheParserReads)
{
	std::set<std::string> events, hooks, leaves;
	for (const char* script : {"/arborist-tdx.bt", "/arborist-tdx-split.bt"}) {
		const std::vector<std::string> formats = printf_formats(TOOLS + script);
		ASSERT_FALSE(formats.empty()) << script;
		for (const std::string& f : formats) {
			const std::string line = render(f);
			SCOPED_TRACE(line);
			const Where w{script, 1};
			TraceLine tl;
			ASSERT_NO_THROW(tl = parse_trace_line(line, w));
			ASSERT_EQ(tl.kind, LineKind::event);
			EXPECT_EQ(tl.comm, "qemu-system-x86");
			EXPECT_EQ(tl.pid, 4321u);
			const EventId id = classify_event(tl.event);
			events.insert(std::string(tl.event));
			switch (id) {
			case EventId::tdx_td_params:
				EXPECT_NO_THROW(decode_td_params(tl.payload, w));
				break;
			case EventId::tdx_seamcall:
				EXPECT_NO_THROW(leaves.insert(std::string(decode_seamcall(tl.payload, w).leaf_name)));
				break;
			case EventId::tdx_vcpu_enter:
			case EventId::tdx_vcpu_exit:
				EXPECT_NO_THROW(decode_vcpu_run(tl.payload, w, id == EventId::tdx_vcpu_exit));
				break;
			case EventId::tdx_hook_enter:
			case EventId::tdx_hook_exit:
				EXPECT_NO_THROW(hooks.insert(std::string(
					hook_name(decode_hook(tl.payload, w, id == EventId::tdx_hook_exit).hook))));
				break;
			default:
				ADD_FAILURE() << "not a TDX event of docs/trace-format.md: " << tl.event;
			}
		}
	}
	for (const char* e : {"tdx_td_params", "tdx_seamcall", "tdx_vcpu_enter", "tdx_vcpu_exit", "tdx_hook_enter",
			      "tdx_hook_exit"})
		EXPECT_TRUE(events.count(e)) << e;
	for (std::size_t h = 0; h < NUM_TDX_HOOKS; h++)
		EXPECT_TRUE(hooks.count(std::string(hook_name(static_cast<TdxHook>(h))))) << hook_name(static_cast<TdxHook>(h));
	// The leaves KVM v6.19 issues for the S-EPT and the TD's life (vmx/tdx.c, virt/vmx/tdx/tdx.c).
	for (const char* l : {"TDH.MNG.CREATE", "TDH.MNG.KEY.CONFIG", "TDH.MNG.ADDCX", "TDH.MNG.INIT", "TDH.VP.CREATE",
			      "TDH.VP.ADDCX", "TDH.VP.INIT", "TDH.MEM.PAGE.ADD", "TDH.MEM.SEPT.ADD", "TDH.MEM.PAGE.AUG",
			      "TDH.MEM.RANGE.BLOCK", "TDH.MEM.TRACK", "TDH.MEM.PAGE.REMOVE", "TDH.MR.EXTEND",
			      "TDH.MR.FINALIZE", "TDH.VP.FLUSH", "TDH.MNG.VPFLUSHDONE", "TDH.PHYMEM.CACHE.WB",
			      "TDH.MNG.KEY.FREEID", "TDH.PHYMEM.PAGE.RECLAIM", "TDH.PHYMEM.PAGE.WBINVD",
			      "TDH.MEM.PAGE.DEMOTE"})
		EXPECT_TRUE(leaves.count(l)) << l;
}

// The scripts print each TDX event with the payload format of
// event_formats (the one table the writer fills), a %s filled in with a
// literal leaf or hook name where the probe knows it; docs/trace-format.md
// shows each of those formats in its table.
TEST(BpftraceFormats, ScriptsAndDocsUseTheEventTable)
{
	const std::string docs = read_file(std::string(ARBORIST_TEST_DATA) + "/../../docs/trace-format.md");
	std::vector<std::string> lines;
	for (const char* script : {"/arborist-tdx.bt", "/arborist-tdx-split.bt"})
		for (const std::string& f : printf_formats(TOOLS + script))
			lines.push_back(f);
	for (const EventFormat& e : event_formats) {
		if (e.name.starts_with("tdx_")) {
			EXPECT_NE(docs.find("| `" + std::string(e.name) + "` | `" + std::string(e.format) + "` |"),
				  std::string::npos)
				<< e.name;
		}
		if (e.format.empty() || !e.name.starts_with("tdx_"))
			continue;
		// the format as a pattern: %s is a word, every other character itself
		std::string pattern = ": " + std::string(e.name) + ": ";
		for (std::size_t i = 0; i < e.format.size(); i++) {
			if (e.format.substr(i, 2) == "%s") {
				pattern += "(%s|[A-Za-z0-9_.]+)";
				i++;
			} else if (std::string_view("\\^$.|?*+()[]{}").find(e.format[i]) != std::string_view::npos) {
				pattern += std::string("\\") + e.format[i];
			} else {
				pattern += e.format[i];
			}
		}
		const std::regex re(pattern + "\n");
		std::size_t n = 0;
		for (const std::string& l : lines)
			if (l.find(": " + std::string(e.name) + ": ") != std::string::npos) {
				n++;
				EXPECT_TRUE(std::regex_search(l, re)) << l << "\nis not " << e.name << ": " << e.format;
			}
		EXPECT_GT(n, 0u) << e.name;
	}
}

} // namespace
} // namespace arborist::conform::test
