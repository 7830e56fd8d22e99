// SPDX-License-Identifier: GPL-2.0-only
//
// arborist run: the scenario language (docs/scenarios.md), its parser, the
// runner over a TDX VM (impl/arborist/impl/td_vm.hpp) or a plain EPT/NPT VM
// (TdpMmu<NoExternalHooks>), and the printers of the final state as text
// and as Graphviz.
//
// The whole file is parsed before anything runs, so a malformed scenario
// executes nothing; every input error is "FILE:LINE: field 'KEY': what".
// The file is read by support::LineReader (a line cap, any kind of file,
// "-" for standard input); each line costs time linear in its length.
#include "scenario.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_set>
#include <variant>
#include <vector>

#include "arborist/abi/tdx.hpp"
#include "arborist/impl/mirror_check.hpp"
#include "arborist/impl/refinement.hpp"
#include "arborist/impl/td_vm.hpp"
#include "arborist/impl/tdp_mmu.hpp"
#include "arborist/impl/variant_names.hpp"
#include "arborist/support/line_reader.hpp"
#include "arborist/support/text.hpp"
#include "trace_writer.hpp"

namespace arborist::cli {

namespace {

using namespace arborist::impl;
using tdx_abi::Leaf;
using tdx_abi::leaf_name;
using tdx_abi::leaf_names;
using spec::sept_state_name;
using spec::sept_state_names;
using spec::SeptState;

// ============================================================================
// Names and number formatting
// ============================================================================

std::string hex(u64 v)
{
	std::ostringstream s;
	s << "0x" << std::hex << v;
	return s.str();
}

// A number as a person reads it: small ones decimal, addresses hex.
std::string num(u64 v) { return v < 0x10000 ? std::to_string(v) : hex(v); }

// Untrusted text echoed in a message: bounded, printable, quoted.
std::string echo_input(std::string_view s) { return support::quoted(s, 40); }

// The longest scenario line read: far above any real command (the longest,
// `expect calls` naming every leaf, is under 1 KiB), low enough that a
// file without newlines costs little memory.
constexpr std::size_t kMaxLine = std::size_t{1} << 20;



std::optional<Leaf> leaf_by_name(std::string_view s)
{
	for (const auto& n : leaf_names)
		if (n.name == s)
			return n.leaf;
	return std::nullopt;
}

// What RCX holds for a leaf that does not take page info.
std::string rcx_name(Leaf l)
{
	switch (l) {
	case Leaf::TDH_MEM_TRACK:
	case Leaf::TDH_MR_FINALIZE:
	case Leaf::TDH_MNG_VPFLUSHDONE:
	case Leaf::TDH_MNG_KEY_FREEID:
		return "tdr";
	case Leaf::TDH_VP_ENTER:
	case Leaf::TDH_VP_FLUSH:
		return "tdvpr";
	case Leaf::TDH_PHYMEM_PAGE_RECLAIM:
		return "page";
	case Leaf::TDH_PHYMEM_PAGE_WBINVD:
		return "keyed-page";
	case Leaf::TDH_PHYMEM_CACHE_WB:
		return "resume";
	default:
		return "rcx";
	}
}

// Leaves whose RCX is page info (GPA | TDX level): the S-EPT leaves that
// walk to a requested level (spec::sept_leaves).
bool takes_page_info(Leaf l)
{
	for (const auto& info : spec::sept_leaves)
		if (info.leaf == l)
			return info.walks;
	return false;
}



bool is_nl_state(SeptState s) { return s == SeptState::NL_MAPPED || s == SeptState::NL_BLOCKED; }

constexpr std::string_view page_type_names[] = {"PT_NDA", "PT_RSVD", "?", "PT_REG", "PT_TDR",
						"PT_TDCX", "PT_TDVPR", "?", "PT_EPT"};
constexpr std::string_view lifecycle_names[] = {"TD_HKID_ASSIGNED", "TD_KEYS_CONFIGURED", "TD_BLOCKED",
						"TD_TEARDOWN"};
constexpr std::string_view op_state_names[] = {"UNINITIALIZED", "INITIALIZED",   "RUNNABLE",      "LIVE_EXPORT",
					       "PAUSED_EXPORT", "POST_EXPORT",   "MEMORY_IMPORT", "STATE_IMPORT",
					       "POST_IMPORT",   "LIVE_IMPORT",   "FAILED_IMPORT"};

template <std::size_t N>
std::string table_name(const std::string_view (&names)[N], u64 v)
{
	return v < N ? std::string(names[v]) : hex(v);
}

std::string operand_name(u64 id)
{
	namespace op = tdx_abi::operand;
	const std::pair<u64, std::string_view> names[] = {
		{op::RAX, "RAX"}, {op::RCX, "RCX"}, {op::RDX, "RDX"}, {op::R8, "R8"}, {op::R9, "R9"},
		{op::TDR, "TDR"}, {op::SEPT_TREE, "SEPT_TREE"}, {op::SEPT_ENTRY, "SEPT_ENTRY"},
		{op::TD_EPOCH, "TD_EPOCH"}, {op::OP_STATE, "OP_STATE"}, {op::KOT, "KOT"}, {op::WBCACHE, "WBCACHE"}};
	for (const auto& [v, n] : names)
		if (v == id)
			return std::string(n);
	return hex(id);
}

// "TDX_OPERAND_BUSY|SEPT_TREE (0x8000020000000092)"
std::string status_text(u64 status)
{
	if (status == tdx_abi::status::TDX_SUCCESS)
		return "TDX_SUCCESS";
	const std::string_view base = tdx_abi::status_base_name(status);
	if (base.empty())
		return hex(status);
	std::string s(base);
	if (const u64 id = status & ~tdx_abi::TDX_SEAMCALL_STATUS_MASK)
		s += "|" + operand_name(id);
	return s + " (" + hex(status) + ")";
}

using impl::errno_name;
using impl::ret_pf_name;

// The mapping size of a TDX level: 0 4K, 1 2M, 2 1G, ...
std::string size_name(unsigned tdx_level)
{
	constexpr std::string_view names[] = {"4K", "2M", "1G", "512G", "256T"};
	return tdx_level < std::size(names) ? std::string(names[tdx_level]) : "level" + std::to_string(tdx_level);
}

// ============================================================================
// The scenario model
// ============================================================================

enum class VmKind : std::uint8_t { tdx, ept, npt };

struct VmSpec {
	VmKind kind = VmKind::tdx;
	unsigned pwl = 4;
	unsigned vcpus = 1;
	u64 tdmr_pages = 1 << 16;
	Variants variants{};
	TdxVariants tdx_variants{};
	u64 resched = 0;
	spec::Paging paging = spec::x86_paging_4level;

	bool is_td() const { return kind == VmKind::tdx; }
	unsigned root_level() const { return is_td() ? pwl : paging.root_level; }
	unsigned level_bits() const { return is_td() ? spec::SPTE_LEVEL_BITS : paging.level_bits; }
	spec::TdGeometry geometry() const { return pwl == 5 ? spec::td_pwl5 : spec::td_pwl4; }
	// GFNs a scenario names: a TD's lie below the shared bit (a direct-root
	// GFN is written without it), a plain VM's are what its root maps.
	u64 gfn_limit() const
	{
		if (is_td())
			return u64{1} << (geometry().shared_gpa_bit() - spec::PAGE_SHIFT);
		return u64{1} << (paging.level_bits * paging.root_level);
	}
	// Fault addresses: a TD's include the shared bit.
	u64 gpa_limit() const
	{
		return is_td() ? u64{1} << geometry().gpaw() : gfn_limit() << spec::PAGE_SHIFT;
	}
	u64 pages_per(unsigned level) const { return u64{1} << (level_bits() * (level - 1)); }
};

enum class RootKind : std::uint8_t { mirror, direct };

struct GfnRange {
	u64 start = 0, end = 0; // [start, end)
};

struct Finalize {};
struct Fault {
	unsigned vcpu = 0;
	u64 gpa = 0;
	unsigned level = 1;
	bool write = true;
	std::optional<u64> pfn; // plain VMs only
};
struct Enter {
	unsigned vcpu = 0;
};
struct Exit {
	unsigned vcpu = 0;
};
struct Unmap {
	GfnRange range;
	bool private_range = true, shared_range = true;
};
struct Split {
	GfnRange range;
	unsigned level = 1;
	bool shared = false;
	RootKind root = RootKind::direct;
};
struct Invalidate {
	unsigned types = 0;
};
struct ZapInvalidated {
	bool shared = true;
};
struct Rcu {};
struct Busy {
	spec::Contention<spec::Concrete> locks{};
};
struct GmemRelease {};
struct Destroy {};
struct Teardown {};

struct ExpectSpte {
	u64 gfn = 0;
	unsigned level = 1;
	RootKind root = RootKind::direct;
	enum class Want : std::uint8_t { value, present, absent } want = Want::present;
	u64 value = 0;
};
struct ExpectSept {
	u64 gpa = 0;
	unsigned level = 1;
	std::optional<SeptState> state; // nullopt: the walk does not reach the level
};
struct ExpectCalls {
	std::vector<std::pair<Leaf, u64>> counts;
};
struct ExpectCounts {
	std::optional<u64> bugs, roots, rcu_pending, tables, pages_free;
	bool pages_free_all = false;
};
enum class RootWant : std::uint8_t { valid, invalid, freed };
struct ExpectRoot {
	u32 id = 0;
	RootWant state = RootWant::valid;
};
struct ExpectVcpu {
	unsigned id = 0;
	bool in_guest = false;
};

using Action = std::variant<Finalize, Fault, Enter, Exit, Unmap, Split, Invalidate, ZapInvalidated, Rcu, Busy,
			    GmemRelease, Destroy, Teardown, ExpectSpte, ExpectSept, ExpectCalls, ExpectCounts,
			    ExpectRoot, ExpectVcpu>;

template <class A>
inline constexpr bool is_expect = std::is_same_v<A, ExpectSpte> || std::is_same_v<A, ExpectSept> ||
				  std::is_same_v<A, ExpectCalls> || std::is_same_v<A, ExpectCounts> ||
				  std::is_same_v<A, ExpectRoot> || std::is_same_v<A, ExpectVcpu>;

using LineNo = std::uint64_t;

struct Op {
	LineNo line = 0;
	std::string text; // the line, comment stripped, single-spaced
	Action action;
};

struct Scenario {
	VmSpec vm;
	std::string vm_text;
	LineNo vm_line = 0;
	std::vector<Op> ops;
};

// ============================================================================
// Parsing
// ============================================================================

struct ParseError {
	LineNo line;
	std::string field;
	std::string what;
};

// Views into the line being parsed: an Args lives no longer than its line.
struct Token {
	std::string_view key;   // the bare word, or the part before '='
	std::string_view value; // after '='
	bool has_value = false;
	bool used = false;
};

std::optional<u64> parse_number(std::string_view s)
{
	int base = 10;
	if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s.remove_prefix(2);
	}
	u64 v = 0;
	const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
	if (s.empty() || ec != std::errc() || p != s.data() + s.size())
		return std::nullopt;
	return v;
}

// The arguments of one line, consumed by the command's parser; whatever is
// left unconsumed is an error.
class Args {
public:
	Args(LineNo line, std::string command, std::vector<Token> tokens)
		: line_(line), command_(std::move(command)), tokens_(std::move(tokens))
	{
		check_duplicates();
	}

	LineNo line() const { return line_; }
	const std::string& command() const { return command_; }

	[[noreturn]] void fail(std::string_view field, std::string what) const
	{
		throw ParseError{line_, std::string(field), std::move(what)};
	}

	// key=NUMBER in [lo, hi]; `fallback` when absent (absent without a
	// fallback is an error).
	u64 number(std::string_view key, u64 lo, u64 hi, std::optional<u64> fallback = std::nullopt)
	{
		const Token* t = take_value(key);
		if (!t) {
			if (!fallback)
				fail(key, "missing (required by '" + command_ + "')");
			return *fallback;
		}
		return in_range(key, t->value, lo, hi);
	}

	std::optional<u64> optional_number(std::string_view key, u64 lo, u64 hi)
	{
		const Token* t = take_value(key);
		if (!t)
			return std::nullopt;
		return in_range(key, t->value, lo, hi);
	}

	// key=TEXT, as written.
	std::optional<std::string> text(std::string_view key)
	{
		const Token* t = take_value(key);
		return t ? std::optional<std::string>(std::string(t->value)) : std::nullopt;
	}

	// key=WORD among `choices`: the index, `fallback` when absent.
	std::size_t choice(std::string_view key, std::initializer_list<std::string_view> choices,
			   std::optional<std::size_t> fallback = std::nullopt)
	{
		const Token* t = take_value(key);
		if (!t) {
			if (!fallback)
				fail(key, "missing (required by '" + command_ + "')");
			return *fallback;
		}
		std::size_t i = 0;
		for (const std::string_view c : choices) {
			if (t->value == c)
				return i;
			i++;
		}
		fail(key, "expected " + alternatives(choices) + ", got " + echo_input(t->value));
	}

	// key=NAME among an implementation variant's names
	// (impl/arborist/impl/variant_names.hpp), `fallback` when absent.
	template <class E, std::size_t N>
	E variant(std::string_view key, const impl::VariantName<E> (&names)[N], E fallback)
	{
		const Token* t = take_value(key);
		if (!t)
			return fallback;
		if (const auto v = impl::variant_by_name(std::span<const impl::VariantName<E>>(names), t->value))
			return *v;
		std::string list;
		for (std::size_t i = 0; i < N; i++)
			list += (i == 0 ? "" : i + 1 == N ? " or " : ", ") + ("'" + std::string(names[i].name) + "'");
		fail(key, "expected " + list + ", got " + echo_input(t->value));
	}

	// key=START..END (END exclusive) or key=GFN (one page), below `limit`.
	GfnRange range(std::string_view key, u64 limit)
	{
		const Token* t = take_value(key);
		if (!t)
			fail(key, "missing (required by '" + command_ + "')");
		const std::string_view v = t->value;
		const std::size_t dots = v.find("..");
		const auto start = parse_number(v.substr(0, dots));
		const auto end = dots == std::string_view::npos ? (start ? std::optional<u64>(*start + 1) : std::nullopt)
								: parse_number(v.substr(dots + 2));
		if (!start || !end)
			fail(key, "expected START..END or a single number (decimal or 0x hex), got " + echo_input(v));
		if (*start >= *end)
			fail(key, "empty range " + echo_input(v) + ": END is exclusive and must be above START");
		if (*end > limit)
			fail(key, "range " + echo_input(v) + " goes beyond " + hex(limit) + ", the VM's GFN limit");
		return {*start, *end};
	}

	// At most one of `words` as a bare word: its index, or `fallback`.
	std::optional<std::size_t> word(std::initializer_list<std::string_view> words,
					std::optional<std::size_t> fallback = std::nullopt)
	{
		std::optional<std::size_t> found;
		std::string_view first;
		std::size_t i = 0;
		for (const std::string_view w : words) {
			if (take_word(w)) {
				if (found)
					fail(w, "conflicts with '" + std::string(first) + "'");
				found = i;
				first = w;
			}
			i++;
		}
		return found ? found : fallback;
	}

	// Exactly one of `words`.
	std::size_t required_word(std::string_view field, std::initializer_list<std::string_view> words)
	{
		const auto w = word(words);
		if (!w)
			fail(field, "missing: expected one of " + alternatives(words));
		return *w;
	}

	bool take_word(std::string_view w)
	{
		for (Token& t : tokens_)
			if (!t.used && !t.has_value && t.key == w) {
				t.used = true;
				return true;
			}
		return false;
	}

	// A key that is an error on this VM, with the reason.
	void reject(std::string_view key, const std::string& why)
	{
		for (const Token& t : tokens_)
			if (t.key == key)
				fail(key, why);
	}

	std::vector<Token>& tokens() { return tokens_; }

	// Every token must have been consumed.
	void finish() const
	{
		for (const Token& t : tokens_) {
			if (t.used)
				continue;
			if (t.has_value)
				fail(t.key, "not an argument of '" + command_ + "'");
			fail(t.key, "unexpected word in '" + command_ + "'");
		}
	}

	static std::string alternatives(std::initializer_list<std::string_view> words)
	{
		std::string s;
		std::size_t i = 0;
		for (const std::string_view w : words) {
			s += i == 0 ? "" : i + 1 == words.size() ? " or " : ", ";
			s += "'" + std::string(w) + "'";
			i++;
		}
		return s;
	}

private:
	// One hash lookup per word: a line of N words costs O(N).
	void check_duplicates() const
	{
		std::unordered_set<std::string_view> seen;
		seen.reserve(tokens_.size());
		for (const Token& t : tokens_)
			if (!seen.insert(t.key).second)
				fail(t.key, "given twice");
	}

	const Token* take_value(std::string_view key)
	{
		for (Token& t : tokens_)
			if (t.key == key) {
				if (!t.has_value)
					fail(key, "needs a value: " + std::string(key) + "=...");
				t.used = true;
				return &t;
			}
		return nullptr;
	}

	u64 in_range(std::string_view key, std::string_view value, u64 lo, u64 hi) const
	{
		const auto v = parse_number(value);
		if (!v)
			fail(key, "expected a number (decimal or 0x hex), got " + echo_input(value));
		if (*v < lo || *v > hi)
			fail(key, "must be from " + num(lo) + " to " + num(hi) + ", got " + num(*v));
		return *v;
	}

	LineNo line_;
	std::string command_;
	std::vector<Token> tokens_;
};

// What the parser knows while it reads: the VM and the lines that end or
// change what may follow.
struct ParseContext {
	VmSpec vm;
	LineNo vm_line = 0;
	LineNo finalize_line = 0;
	LineNo end_line = 0; // the destroy / teardown line
	LineNo mirror_invalidated_line = 0; // a mirror root waits for zap-invalidated
};

constexpr u32 kMaxSpId = 1u << 24;

// ---- vm ------------------------------------------------------------------------

spec::Paging parse_paging(Args& a)
{
	const std::optional<std::string> text = a.text("paging");
	if (!text)
		return spec::x86_paging_4level;
	const std::string_view v = *text;
	const std::size_t x = v.find('x');
	const auto bits = parse_number(v.substr(0, x));
	const auto levels = x == std::string_view::npos ? std::nullopt : parse_number(v.substr(x + 1));
	if (!bits || !levels)
		a.fail("paging", "expected BITSxLEVELS such as 9x4 or 2x3, got " + echo_input(v));
	const spec::Paging p{static_cast<unsigned>(std::min<u64>(*bits, 99)),
			     static_cast<unsigned>(std::min<u64>(*levels, 99))};
	if (!p.valid())
		a.fail("paging", "BITS must be 1 to 9 and LEVELS 2 to 5, got " + echo_input(v));
	return p;
}

void parse_td_vm(Args& a, VmSpec& vm)
{
	vm.pwl = static_cast<unsigned>(a.number("pwl", 4, 5, 4));
	vm.vcpus = static_cast<unsigned>(a.number("vcpus", 1, 16, 1));
	vm.tdmr_pages = a.number("tdmr_pages", 64, u64{1} << 20, u64{1} << 16);
	const u64 needed = 1 + hw::sim::MIN_NUM_TDCS_PAGES + vm.vcpus + vm.pwl;
	if (vm.tdmr_pages < needed)
		a.fail("tdmr_pages", "too small for " + std::to_string(vm.vcpus) + " vCPUs: at least " + num(needed));
	vm.variants.mirror_write = a.variant("mirror-write", impl::mirror_write_names, Variants::MirrorWrite::frozen_v6_19);
	vm.tdx_variants.private_huge_pages_seed001 = a.choice("huge", {"off", "on"}, 0) == 1;
	vm.tdx_variants.teardown = a.variant("teardown", impl::teardown_names, TdxVariants::Teardown::dynamic_v6_19);
}

void parse_plain_vm(Args& a, VmSpec& vm)
{
	for (const std::string_view td_key : {"pwl", "vcpus", "tdmr_pages", "mirror-write", "huge", "teardown"})
		a.reject(td_key, "only a TD (vm tdx) has this");
	vm.paging = parse_paging(a);
}

VmSpec parse_vm(Args& a)
{
	VmSpec vm;
	vm.kind = static_cast<VmKind>(a.required_word("kind", {"tdx", "ept", "npt"}));
	vm.variants.removal = a.variant("removal", impl::removal_names, Variants::Removal::recursive_v6_19);
	vm.resched = a.number("resched", 0, u64{1} << 32, 0);
	if (vm.is_td())
		parse_td_vm(a, vm);
	else
		parse_plain_vm(a, vm);
	return vm;
}

// ---- operations ------------------------------------------------------------------

unsigned parse_vcpu(Args& a, const VmSpec& vm, std::string_view key = "vcpu")
{
	return static_cast<unsigned>(a.number(key, 0, vm.vcpus - 1, 0));
}

Action parse_fault(Args& a, const ParseContext& c)
{
	const VmSpec& vm = c.vm;
	Fault f;
	f.vcpu = parse_vcpu(a, vm);
	f.level = static_cast<unsigned>(a.number("level", 1, std::min(3u, vm.root_level() - 1), 1)); // 4K, 2M, 1G
	f.write = *a.word({"write", "read"}, 0) == 0;
	f.gpa = a.number("gpa", 0, vm.gpa_limit() - 1);
	if (vm.is_td()) {
		a.reject("pfn", "a TD's pages come from guest_memfd and the shared pool, not pfn=");
		if (a.take_word("shared"))
			f.gpa |= u64{1} << vm.geometry().shared_gpa_bit();
	} else {
		a.reject("shared", "only a TD has shared GPAs");
		f.pfn = a.optional_number("pfn", 0, (u64{1} << 40) - 1);
	}
	return f;
}

Action parse_enter(Args& a, const ParseContext& c) { return Enter{parse_vcpu(a, c.vm)}; }
Action parse_exit(Args& a, const ParseContext& c) { return Exit{parse_vcpu(a, c.vm)}; }

Action parse_unmap(Args& a, const ParseContext& c)
{
	Unmap u;
	u.range = a.range("gfn", c.vm.gfn_limit());
	if (!c.vm.is_td()) {
		a.reject("private", "only a TD has private memory");
		a.reject("shared", "only a TD has shared memory");
		a.take_word("all");
		return u;
	}
	const std::size_t which = *a.word({"private", "shared", "all"}, 2);
	u.private_range = which != 1;
	u.shared_range = which != 0;
	return u;
}

Action parse_split(Args& a, const ParseContext& c)
{
	const VmSpec& vm = c.vm;
	if (vm.root_level() < 3)
		a.fail("command", "a " + std::to_string(vm.root_level()) + "-level VM has no huge pages to split");
	Split s;
	s.range = a.range("gfn", vm.gfn_limit());
	s.level = static_cast<unsigned>(a.number("level", 1, vm.root_level() - 2, 1));
	if (vm.is_td())
		s.root = a.choice("root", {"mirror", "direct"}, 0) == 0 ? RootKind::mirror : RootKind::direct;
	else if (a.choice("root", {"direct", "mirror"}, 0) != 0)
		a.fail("root", "only a TD has a mirror root");
	// KVM's eager split of a direct root runs under the read lock; the
	// seed-001 split of a mirror root under the write lock.
	s.shared = *a.word({"shared", "exclusive"}, s.root == RootKind::direct ? 0 : 1) == 0;
	return s;
}

Action parse_invalidate(Args& a, const ParseContext& c)
{
	const std::size_t w = a.required_word("roots", {"direct", "mirror", "all"});
	if (w == 1 && !c.vm.is_td())
		a.fail("mirror", "only a TD has mirror roots");
	const unsigned types[] = {KVM_DIRECT_ROOTS, KVM_MIRROR_ROOTS, KVM_VALID_ROOTS};
	return Invalidate{types[w]};
}

// KVM zaps mirror roots only under the write lock: a shared zap of one hits
// the KVM_BUG_ON of an atomic mirror zap and retries it forever.
Action parse_zap_invalidated(Args& a, const ParseContext& c)
{
	const bool shared = *a.word({"shared", "exclusive"}, 0) == 0;
	if (shared && c.mirror_invalidated_line)
		a.fail("shared", "a mirror root invalidated at line " + std::to_string(c.mirror_invalidated_line) +
					 " is zapped only under the write lock: use 'zap-invalidated exclusive'");
	return ZapInvalidated{shared};
}

Action parse_busy(Args& a, const ParseContext&)
{
	using Locks = spec::Contention<spec::Concrete>;
	Busy b;
	const std::pair<std::string_view, bool Locks::*> locks[] = {
		{"tree", &Locks::tree}, {"entry", &Locks::entry}, {"pamt", &Locks::pamt},         {"tdr", &Locks::tdr},
		{"epoch", &Locks::epoch}, {"op_state", &Locks::op_state}, {"kot", &Locks::kot}};
	bool any = false;
	for (const auto& [name, field] : locks)
		if (a.take_word(name)) {
			b.locks.*field = true;
			any = true;
		}
	if (!any)
		a.fail("lock", "missing: expected one or more of 'tree', 'entry', 'pamt', 'tdr', 'epoch', 'op_state', "
			       "'kot'");
	return b;
}

// ---- expect ----------------------------------------------------------------------

RootKind parse_root_kind(Args& a, const VmSpec& vm)
{
	if (vm.is_td())
		return a.choice("root", {"mirror", "direct"}, 0) == 0 ? RootKind::mirror : RootKind::direct;
	if (a.choice("root", {"direct", "mirror"}, 0) != 0)
		a.fail("root", "only a TD has a mirror root");
	return RootKind::direct;
}

Action parse_expect_spte(Args& a, const VmSpec& vm)
{
	ExpectSpte e;
	e.gfn = a.number("gfn", 0, vm.gfn_limit() - 1);
	e.level = static_cast<unsigned>(a.number("level", 1, vm.root_level()));
	e.root = parse_root_kind(a, vm);
	const auto value = a.optional_number("value", 0, ~u64{0});
	const auto word = a.word({"present", "absent"});
	if (value && word)
		a.fail(*word == 0 ? "present" : "absent", "conflicts with 'value'");
	if (!value && !word)
		a.fail("value", "missing: expected value=SPTE, 'present' or 'absent'");
	e.want = value ? ExpectSpte::Want::value : *word == 0 ? ExpectSpte::Want::present : ExpectSpte::Want::absent;
	e.value = value.value_or(0);
	return e;
}

Action parse_expect_sept(Args& a, const VmSpec& vm)
{
	ExpectSept e;
	e.gpa = a.number("gpa", 0, vm.gpa_limit() - 1);
	e.level = static_cast<unsigned>(a.number("level", 1, vm.pwl));
	const std::optional<std::string> state = a.text("state");
	if (!state)
		a.fail("state", "missing (required by 'expect sept')");
	if (*state == "UNREACHED")
		return e;
	for (const auto& n : sept_state_names)
		if (n.name == *state) {
			e.state = n.state;
			return e;
		}
	a.fail("state", "expected an S-EPT state (FREE, MAPPED, PENDING, BLOCKED, NL_MAPPED, ...) or UNREACHED, got " +
				echo_input(*state));
}

Action parse_expect_calls(Args& a)
{
	ExpectCalls e;
	for (Token& t : a.tokens()) {
		if (t.used)
			continue;
		const auto leaf = leaf_by_name(t.key);
		if (!leaf)
			a.fail(t.key, "not a SEAMCALL leaf name (such as TDH.MEM.PAGE.AUG)");
		if (!t.has_value)
			a.fail(t.key, "needs a count: " + std::string(t.key) + "=N");
		const auto n = parse_number(t.value);
		if (!n)
			a.fail(t.key, "expected a number (decimal or 0x hex), got " + echo_input(t.value));
		t.used = true;
		e.counts.emplace_back(*leaf, *n);
	}
	if (e.counts.empty())
		a.fail("calls", "missing: expected one or more LEAF=N such as TDH.MEM.PAGE.AUG=1");
	return e;
}

Action parse_expect_root(Args& a)
{
	ExpectRoot e;
	e.id = static_cast<u32>(a.number("id", 0, kMaxSpId));
	e.state = static_cast<RootWant>(a.choice("state", {"valid", "invalid", "freed"}));
	return e;
}

Action parse_expect_vcpu(Args& a, const VmSpec& vm)
{
	ExpectVcpu e;
	e.id = parse_vcpu(a, vm, "id");
	e.in_guest = a.choice("state", {"in-guest", "outside"}) == 0;
	return e;
}

Action parse_expect_counts(Args& a, const VmSpec& vm)
{
	ExpectCounts e;
	constexpr u64 kMax = ~u64{0};
	e.bugs = a.optional_number("bugs", 0, kMax);
	e.roots = a.optional_number("roots", 0, kMax);
	e.rcu_pending = a.optional_number("rcu-pending", 0, kMax);
	e.tables = a.optional_number("tables", 0, kMax);
	const std::optional<std::string> pages_free = a.text("pages-free");
	e.pages_free_all = pages_free == "all";
	if (pages_free && !e.pages_free_all) {
		if (!vm.is_td())
			a.fail("pages-free", "a plain VM has no page pool: only pages-free=all (no live page table)");
		e.pages_free = parse_number(*pages_free);
		if (!e.pages_free)
			a.fail("pages-free", "expected 'all' or a number, got " + echo_input(*pages_free));
	}
	if (!e.bugs && !e.roots && !e.rcu_pending && !e.tables && !e.pages_free && !e.pages_free_all)
		a.fail("expect", "missing: expected spte, sept, calls, root, vcpu, or one or more of bugs=, roots=, "
				 "rcu-pending=, tables=, pages-free=");
	return e;
}

Action parse_expect(Args& a, const ParseContext& c)
{
	const VmSpec& vm = c.vm;
	const std::size_t subject = *a.word({"spte", "sept", "calls", "root", "vcpu"}, 5);
	if ((subject == 1 || subject == 2 || subject == 4) && !vm.is_td())
		a.fail(subject == 1 ? "sept" : subject == 2 ? "calls" : "vcpu", "only a TD has this (vm tdx)");
	switch (subject) {
	case 0: return parse_expect_spte(a, vm);
	case 1: return parse_expect_sept(a, vm);
	case 2: return parse_expect_calls(a);
	case 3: return parse_expect_root(a);
	case 4: return parse_expect_vcpu(a, vm);
	default: return parse_expect_counts(a, vm);
	}
}

// ---- the command table -----------------------------------------------------------

enum class Needs : std::uint8_t { any, td, plain };

struct CommandSpec {
	std::string_view name;
	Needs needs;
	bool after_end; // allowed after destroy / teardown
	std::function<Action(Args&, const ParseContext&)> parse;
};

const std::vector<CommandSpec>& commands()
{
	// A command without arguments: any argument is left for Args::finish().
	auto none = [](Action act) { return [act](Args&, const ParseContext&) { return act; }; };
	static const std::vector<CommandSpec> table = {
		{"finalize", Needs::td, false, none(Finalize{})},
		{"fault", Needs::any, false, parse_fault},
		{"enter", Needs::td, false, parse_enter},
		{"exit", Needs::td, false, parse_exit},
		{"unmap", Needs::any, false, parse_unmap},
		{"split", Needs::any, false, parse_split},
		{"invalidate", Needs::any, false, parse_invalidate},
		{"zap-invalidated", Needs::any, false, parse_zap_invalidated},
		{"rcu", Needs::any, true, none(Rcu{})},
		{"busy", Needs::td, false, parse_busy},
		{"gmem-release", Needs::td, false, none(GmemRelease{})},
		{"destroy", Needs::td, false, none(Destroy{})},
		{"teardown", Needs::plain, false, none(Teardown{})},
		{"expect", Needs::any, true, parse_expect},
	};
	return table;
}

const CommandSpec& find_command(const Args& a)
{
	for (const CommandSpec& c : commands())
		if (c.name == a.command())
			return c;
	if (a.command() == "vm")
		a.fail("vm", "repeated: a scenario has exactly one 'vm' line, the first");
	a.fail("command", "unknown command " + echo_input(a.command()));
}

void check_allowed(const Args& a, const CommandSpec& c, const ParseContext& ctx)
{
	if (c.needs == Needs::td && !ctx.vm.is_td())
		a.fail("command", "'" + a.command() + "' needs a TD (vm tdx)");
	if (c.needs == Needs::plain && ctx.vm.is_td())
		a.fail("command", "'" + a.command() + "' is for non-TD VMs (a TD uses 'destroy')");
	if (ctx.end_line && !c.after_end)
		a.fail("command", "'" + a.command() + "' after the VM was destroyed (line " +
					  std::to_string(ctx.end_line) + "); only 'expect' and 'rcu' may follow");
	if (a.command() == "finalize" && ctx.finalize_line)
		a.fail("command", "the TD was already finalized (line " + std::to_string(ctx.finalize_line) + ")");
}

Op parse_op(Args& a, ParseContext& ctx, std::string text)
{
	const CommandSpec& c = find_command(a);
	check_allowed(a, c, ctx);
	Op op{a.line(), std::move(text), c.parse(a, ctx)};
	a.finish();
	if (a.command() == "finalize")
		ctx.finalize_line = a.line();
	if (a.command() == "destroy" || a.command() == "teardown")
		ctx.end_line = a.line();
	const auto* inv = std::get_if<Invalidate>(&op.action);
	if (inv && ctx.vm.is_td() && (inv->types & KVM_MIRROR_ROOTS))
		ctx.mirror_invalidated_line = a.line();
	if (const auto* zap = std::get_if<ZapInvalidated>(&op.action); zap && !zap->shared)
		ctx.mirror_invalidated_line = 0;
	return op;
}

// ---- lines -------------------------------------------------------------------------

std::vector<std::string_view> split_words(std::string_view line)
{
	line = line.substr(0, line.find('#'));
	std::vector<std::string_view> words;
	std::size_t i = 0;
	while (i < line.size()) {
		while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i])))
			i++;
		const std::size_t start = i;
		while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i])))
			i++;
		if (i > start)
			words.emplace_back(line.substr(start, i - start));
	}
	return words;
}

Args make_args(LineNo line, const std::vector<std::string_view>& words)
{
	std::vector<Token> tokens;
	tokens.reserve(words.size());
	for (std::size_t i = 1; i < words.size(); i++) {
		const std::string_view w = words[i];
		const std::size_t eq = w.find('=');
		if (eq == 0)
			throw ParseError{line, std::string(w), "a key=value argument needs a key"};
		if (eq == std::string_view::npos)
			tokens.push_back({w, "", false});
		else
			tokens.push_back({w.substr(0, eq), w.substr(eq + 1), true});
	}
	return Args(line, std::string(words[0]), std::move(tokens));
}

std::string joined(const std::vector<std::string_view>& words)
{
	std::string s;
	for (const std::string_view w : words) {
		if (!s.empty())
			s += ' ';
		s += w;
	}
	return s;
}

Scenario parse_scenario(support::LineReader& in)
{
	Scenario sc;
	ParseContext ctx;
	LineNo line = 0;
	while (const std::optional<std::string_view> raw = in.next()) {
		line = in.line_number();
		const std::vector<std::string_view> words = split_words(*raw);
		if (words.empty())
			continue;
		Args a = make_args(line, words);
		if (!ctx.vm_line) {
			if (a.command() != "vm")
				a.fail("vm", "the first command must be 'vm', got " + echo_input(a.command()));
			ctx.vm = parse_vm(a);
			a.finish();
			ctx.vm_line = line;
			sc.vm_text = joined(words);
			continue;
		}
		sc.ops.push_back(parse_op(a, ctx, joined(words)));
	}
	if (!ctx.vm_line)
		throw ParseError{std::max<LineNo>(line, 1), "vm", "missing: a scenario starts with a 'vm' line"};
	sc.vm = ctx.vm;
	sc.vm_line = ctx.vm_line;
	return sc;
}

// ============================================================================
// The machines
// ============================================================================

// A SimModule that records every SEAMCALL with its status (the call trace
// added for `arborist run`); without it the runner prints per-leaf counts.
template <class Module>
concept TracedModule = requires(Module& m) {
	m.trace_enabled = true;
	m.trace.size();
	m.trace[0].leaf;
	m.trace[0].rcx;
	m.trace[0].rdx;
	m.trace[0].r8;
	m.trace[0].status;
};

class TdMachine {
public:
	static constexpr bool is_td = true;
	using Hooks = SimTdx;

	explicit TdMachine(const VmSpec& s) : vm_(options(s)) {}

	bool start()
	{
		enable_trace(vm_.module());
		// One clock for the three records, so --trace can merge them.
		vm_.mmu().log().clock = &clock_;
		vm_.tdx_log().clock = &clock_;
		vm_.module().trace_clock = &clock_;
		if (!vm_.create())
			return false;
		build_ = td_build_of(vm_.module());
		return true;
	}
	TraceInput trace_input()
	{
		TraceInput t;
		t.mmu = &vm_.mmu().log();
		t.tdx = &vm_.tdx_log();
		t.module = &vm_.module();
		t.build = build_;
		t.geometry = vm_.options().geometry;
		t.nr_vcpus = vm_.options().nr_vcpus;
		return t;
	}
	TdVm& vm() { return vm_; }
	TdpMmu<SimTdx>& mmu() { return vm_.mmu(); }
	VcpuRoots& roots(unsigned vcpu) { return vm_.roots(vcpu); }
	unsigned vcpus() const { return vm_.options().nr_vcpus; }
	u64 bugs() { return mmu().log().count(EventKind::kvm_bug) + vm_.tdx_log().count(EventKind::kvm_bug); }

private:
	static TdVmOptions options(const VmSpec& s)
	{
		TdVmOptions o;
		o.geometry = s.geometry();
		o.tdmr_pages = s.tdmr_pages;
		o.nr_vcpus = s.vcpus;
		o.variants = s.variants;
		o.tdx_variants = s.tdx_variants;
		o.resched_every = s.resched;
		return o;
	}
	template <class Module>
	static void enable_trace(Module& m)
	{
		if constexpr (TracedModule<Module>)
			m.trace_enabled = true;
	}

	TdVm vm_;
	u64 clock_ = 1;
	TdBuild build_;
};

class PlainMachine {
public:
	static constexpr bool is_td = false;
	using Hooks = NoExternalHooks;

	explicit PlainMachine(const VmSpec& s) : spec_(s), mmu_(config(s), hooks_) {}

	bool start()
	{
		mmu_.log().clock = &clock_;
		return true;
	}
	TraceInput trace_input()
	{
		TraceInput t;
		t.mmu = &mmu_.log();
		return t;
	}
	TdpMmu<NoExternalHooks>& mmu() { return mmu_; }
	VcpuRoots& roots(unsigned) { return vcpu_; }
	unsigned vcpus() const { return 1; }
	bool hooks_bugged() const { return hooks_.vm_bugged(); }
	u64 bugs() { return mmu_.log().count(EventKind::kvm_bug) + (hooks_.vm_bugged() ? 1 : 0); }

	// The pfn is fault.pfn after kvm_mmu_hugepage_adjust(): aligned to the level.
	int fault(const Fault& f)
	{
		PageFault pf;
		pf.addr = f.gpa;
		pf.goal_level = f.level;
		pf.write = f.write;
		const u64 gfn = f.gpa >> spec::PAGE_SHIFT;
		pf.pfn = f.pfn.value_or(gfn + kPfnOffset) & ~(spec_.pages_per(f.level) - 1);
		return mmu_.page_fault(vcpu_, pf);
	}

	void teardown()
	{
		mmu_.unload_roots(vcpu_);
		mmu_.uninit();
	}

	static constexpr u64 kPfnOffset = 0x10000;

private:
	static Config config(const VmSpec& s)
	{
		Config c;
		c.flavor = s.kind == VmKind::npt ? spec::npt_v6_1 : spec::ept_v6_19;
		c.paging = s.paging;
		c.variants = s.variants;
		c.resched_every = s.resched;
		return c;
	}

	VmSpec spec_;
	NoExternalHooks hooks_;
	u64 clock_ = 1;
	TdpMmu<NoExternalHooks> mmu_;
	VcpuRoots vcpu_;
};

// ============================================================================
// Rows: the final state as lines, with runs of like leaves folded
// ============================================================================

struct Row {
	unsigned depth = 0;
	std::string key_name; // "gfn" or "gpa"
	u64 key = 0;
	u64 key_step = 0;
	unsigned level = 0;
	std::string what;       // "leaf", "table", an S-EPT state
	std::string value_name; // "spte" or "hpa"
	u64 value = 0;
	u64 value_step = 0; // a leaf's value for the next key
	bool foldable = false;
	std::string suffix;
};

bool continues(const Row& prev, const Row& next)
{
	return next.foldable && prev.foldable && next.depth == prev.depth && next.level == prev.level &&
	       next.what == prev.what && next.key == prev.key + prev.key_step &&
	       next.value == prev.value + prev.value_step;
}

void print_row(std::ostream& out, const Row& r)
{
	out << std::string(2 + 2 * r.depth, ' ') << r.key_name << "=" << hex(r.key) << " level=" << r.level << " "
	    << r.what << " " << r.value_name << "=" << hex(r.value) << r.suffix << "\n";
}

void print_run(std::ostream& out, const Row& first, const Row& last, std::size_t n)
{
	out << std::string(2 + 2 * first.depth, ' ') << first.key_name << "=" << hex(first.key) << ".."
	    << hex(last.key + last.key_step) << " level=" << first.level << " " << first.what << " x" << n << " "
	    << first.value_name << "=" << hex(first.value) << " (+" << hex(first.value_step) << " each)\n";
}

// Runs of at least kFold like leaves (consecutive keys, values stepping by
// the page size) print as one line.
void print_rows(std::ostream& out, const std::vector<Row>& rows)
{
	constexpr std::size_t kFold = 4;
	std::size_t i = 0;
	while (i < rows.size()) {
		std::size_t j = i + 1;
		while (j < rows.size() && continues(rows[j - 1], rows[j]))
			j++;
		if (j - i >= kFold) {
			print_run(out, rows[i], rows[j - 1], j - i);
		} else {
			for (std::size_t k = i; k < j; k++)
				print_row(out, rows[k]);
		}
		i = j;
	}
}

// ---- the page-table trees ------------------------------------------------------

// A child table the printers may descend into: live, one level down.  (A
// present SPTE naming anything else would be a bug of the reference; it is
// printed, not followed.)
bool walkable(const PageTables& pt, u32 child, unsigned parent_level)
{
	return child != NO_SP && child < pt.capacity() && pt[child].state != SpState::freed &&
	       pt[child].spt.size() == pt.fanout() && pt[child].level + 1 == parent_level;
}

template <class Mmu>
class TreeWalk {
public:
	explicit TreeWalk(const Mmu& mmu) : mmu_(mmu), pt_(mmu.tables()) {}

	// Pre-order rows of every present SPTE under `root`, GFNs without the
	// TD's shared bit (as a scenario names them).
	std::vector<Row> rows(u32 root)
	{
		std::vector<Row> out;
		alias_ = mmu_.gfn_root_bits(root);
		walk(root, 0, out);
		return out;
	}

private:
	void walk(u32 sp, unsigned depth, std::vector<Row>& out) const
	{
		const MmuPage& page = pt_[sp];
		const u64 span = pages_per(pt_, page.level);
		for (u32 i = 0; i < pt_.fanout(); i++) {
			const u64 s = page.spt[i];
			if (!spec::is_shadow_present_pte(spec::concrete, flavor(), s))
				continue;
			Row r{depth, "gfn", (page.gfn + i * span) & ~alias_, span, page.level, "leaf", "spte", s, 0, false, ""};
			const u32 child = spte_to_child_sp(pt_, flavor(), s, page.level);
			if (child == NO_SP) {
				r.value_step = span << spec::PAGE_SHIFT;
				r.foldable = true;
				out.push_back(r);
				continue;
			}
			const bool ok = walkable(pt_, child, page.level);
			r.what = "table";
			r.suffix = " -> sp " + std::to_string(child) + (ok ? "" : " (not a live child table)");
			out.push_back(r);
			if (ok)
				walk(child, depth + 1, out);
		}
	}
	const spec::SpteFlavor& flavor() const { return mmu_.config().flavor; }

	const Mmu& mmu_;
	const PageTables& pt_;
	u64 alias_ = 0;
};

// ---- S-EPT ----------------------------------------------------------------------

struct SeptRow {
	u64 gpa;
	unsigned tdx_level;
	hw::SeptEntryView e;
};

std::vector<SeptRow> sept_entries(const hw::SimModule& m)
{
	std::vector<SeptRow> out;
	m.for_each_entry([&](u64 gpa, unsigned tdx_level, const hw::SeptEntryView& e) {
		out.push_back({gpa, tdx_level, e});
	});
	return out;
}

std::vector<Row> sept_rows(const hw::SimModule& m)
{
	std::vector<Row> out;
	const unsigned top = m.geometry().pwl - 1;
	for (const SeptRow& s : sept_entries(m)) {
		const u64 bytes = u64{4096} << (9 * s.tdx_level);
		const bool leaf = !is_nl_state(s.e.state);
		out.push_back({top - std::min(top, s.tdx_level), "gpa", s.gpa, bytes, s.tdx_level + 1,
			       sept_state_name(s.e.state), "hpa", s.e.hpa, leaf ? bytes : 0, leaf, ""});
	}
	return out;
}

// ============================================================================
// Graphviz
// ============================================================================

std::string dot_escape(const std::string& s)
{
	std::string out;
	for (const char c : s)
		out += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
	return out;
}

// Leaves of one table, summarised as a count, a key range and the states.
struct LeafSummary {
	u64 count = 0;
	u64 first = 0, last = 0;
	std::map<std::string, u64> kinds;
	void add(u64 key, const std::string& kind)
	{
		if (count == 0)
			first = key;
		last = key;
		count++;
		kinds[kind]++;
	}
	std::string label(const std::string& key_name) const
	{
		std::string s = std::to_string(count) + (count == 1 ? " leaf" : " leaves") + "\\n";
		s += count == 1 ? key_name + " " + hex(first)
				: "lowest " + key_name + " " + hex(first) + "\\nhighest " + key_name + " " + hex(last);
		for (const auto& [k, n] : kinds)
			if (kinds.size() > 1 || k != "leaf")
				s += "\\n" + k + " " + std::to_string(n);
		return s;
	}
};

std::string sept_node(unsigned level, u64 gpa) { return "sept_L" + std::to_string(level) + "_" + hex(gpa); }

template <class Mmu>
class DotWriter {
public:
	DotWriter(const Mmu& mmu, std::ostream& out) : mmu_(mmu), pt_(mmu.tables()), out_(out) {}

	void root_cluster(u32 root, const std::string& label)
	{
		out_ << "  subgraph cluster_root_" << root << " {\n    label=\"" << dot_escape(label) << "\";\n";
		table(root);
		out_ << "  }\n";
	}

	// Mirror table <-> S-EPT page at the same level and base.
	void correspondence(u32 root, const std::vector<std::string>& sept_nodes)
	{
		for (const auto& [sp, node] : mirror_tables(root))
			if (std::find(sept_nodes.begin(), sept_nodes.end(), node) != sept_nodes.end())
				out_ << "  sp" << sp << " -> " << node
				     << " [style=dashed, color=gray, constraint=false, arrowhead=none];\n";
	}

private:
	void table(u32 sp)
	{
		const MmuPage& page = pt_[sp];
		out_ << "    sp" << sp << " [label=\"sp " << sp << "\\nL" << page.level << " gfn " << hex(page.gfn)
		     << "\"];\n";
		LeafSummary leaves;
		const u64 span = pages_per(pt_, page.level);
		for (u32 i = 0; i < pt_.fanout(); i++) {
			const u64 s = page.spt[i];
			if (!spec::is_shadow_present_pte(spec::concrete, mmu_.config().flavor, s))
				continue;
			const u32 child = spte_to_child_sp(pt_, mmu_.config().flavor, s, page.level);
			if (child == NO_SP) {
				leaves.add(page.gfn + i * span, "leaf");
				continue;
			}
			if (!walkable(pt_, child, page.level))
				continue;
			out_ << "    sp" << sp << " -> sp" << child << ";\n";
			table(child);
		}
		if (leaves.count)
			out_ << "    sp" << sp << "_leaves [shape=note, label=\"" << leaves.label("gfn") << "\"];\n    sp"
			     << sp << " -> sp" << sp << "_leaves;\n";
	}

	std::vector<std::pair<u32, std::string>> mirror_tables(u32 root) const
	{
		std::vector<std::pair<u32, std::string>> out;
		std::vector<u32> stack{root};
		while (!stack.empty()) {
			const u32 sp = stack.back();
			stack.pop_back();
			const MmuPage& page = pt_[sp];
			out.emplace_back(sp, sept_node(page.level, page.gfn << spec::PAGE_SHIFT));
			for (u32 i = 0; i < pt_.fanout(); i++) {
				const u32 child = spte_to_child_sp(pt_, mmu_.config().flavor, page.spt[i], page.level);
				if (walkable(pt_, child, page.level))
					stack.push_back(child);
			}
		}
		return out;
	}

	const Mmu& mmu_;
	const PageTables& pt_;
	std::ostream& out_;
};

// The S-EPT as the module holds it: one node per S-EPT page (the root is
// the TDCS page), leaves summarised per page.  Returns the node names.
std::vector<std::string> write_sept_cluster(const hw::SimModule& m, std::ostream& out)
{
	const unsigned pwl = m.geometry().pwl;
	std::vector<std::string> nodes{sept_node(pwl, 0)};
	std::map<std::string, LeafSummary> leaves;
	out << "  subgraph cluster_sept {\n    label=\"S-EPT (TDX module)\";\n"
	    << "    node [style=filled, fillcolor=lightyellow];\n";
	out << "    " << nodes[0] << " [label=\"S-EPT root (TDCS)\\nL" << pwl << " gpa 0x0\"];\n";
	for (const SeptRow& s : sept_entries(m)) {
		const unsigned level = s.tdx_level + 1; // the level of the page holding the entry
		const u64 page_bytes = u64{4096} << (9 * level);
		const std::string parent = sept_node(level, level == pwl ? 0 : s.gpa & ~(page_bytes - 1));
		if (!is_nl_state(s.e.state)) {
			leaves[parent].add(s.gpa, sept_state_name(s.e.state));
			continue;
		}
		const std::string child = sept_node(level - 1, s.gpa);
		nodes.push_back(child);
		out << "    " << child << " [label=\"L" << level - 1 << " gpa " << hex(s.gpa) << "\\nhpa " << hex(s.e.hpa)
		    << (s.e.state == SeptState::NL_BLOCKED ? "\\nNL_BLOCKED" : "") << "\"];\n";
		out << "    " << parent << " -> " << child << ";\n";
	}
	for (const auto& [parent, summary] : leaves)
		out << "    " << parent << "_leaves [shape=note, label=\"" << summary.label("gpa") << "\"];\n    "
		    << parent << " -> " << parent << "_leaves;\n";
	out << "  }\n";
	return nodes;
}

// ============================================================================
// The runner
// ============================================================================

std::string root_label(const MmuPage& p, u32 sp)
{
	std::string s = "root sp " + std::to_string(sp) + ": " + (p.mirror ? "mirror" : "direct") + ", level " +
			std::to_string(p.level) + ", refcount " + std::to_string(p.root_count) + ", " +
			(p.invalid ? "invalid" : "valid");
	if (p.scheduled_root_to_zap)
		s += ", scheduled to zap";
	return s;
}

template <class M>
class Runner {
public:
	Runner(const Scenario& sc, const RunOptions& o, M& m, std::ostream& out, std::string source)
		: sc_(sc), opt_(o), m_(m), out_(out), source_(std::move(source))
	{
	}

	int run()
	{
		if (!m_.start()) {
			out_ << "[0] " << sc_.vm_text << "  (line " << sc_.vm_line << "): FAILED: the TD could not be built\n";
			return 1;
		}
		if (!opt_.quiet)
			out_ << "[0] " << sc_.vm_text << "  (line " << sc_.vm_line
			     << "): " << (M::is_td ? "TD built, not finalized" : "VM created") << "\n";
		mark_logs();
		if (opt_.refine) {
			// The baseline: the VM as built.
			refine_.emplace(m_.mmu());
			if constexpr (M::is_td)
				mirror_refine_.emplace(m_.vm());
		}
		for (std::size_t i = 0; i < sc_.ops.size(); i++) {
			index_ = i + 1;
			std::visit([&](const auto& a) { step(sc_.ops[i], a); }, sc_.ops[i].action);
		}
		if (!opt_.quiet)
			print_final_state();
		const bool dot_written = opt_.dot_path.empty() || write_dot();
		const bool trace_written = opt_.trace_stream ? write_trace_stream() : opt_.trace_path.empty() || write_trace_file();
		return verdict(dot_written, trace_written);
	}

private:
	using Mmu = std::remove_reference_t<decltype(std::declval<M&>().mmu())>;

	// ---- one step -----------------------------------------------------------------
	template <class A>
	void step(const Op& op, const A& a)
	{
		if constexpr (is_expect<A>) {
			const std::optional<std::string> failure = verify(a);
			expects_++;
			if (failure)
				failures_++;
			if (failure || !opt_.quiet)
				out_ << heading(op) << (failure ? "FAILED: " + *failure : "ok") << "\n";
		} else {
			const std::string result = apply(a);
			std::ostringstream calls, problems;
			print_seamcalls(calls);
			print_new_bugs(problems);
			if (opt_.refine)
				check_refinement(problems);
			if (!opt_.quiet)
				out_ << heading(op) << result << "\n" << calls.str() << problems.str();
			else if (!problems.str().empty())
				out_ << heading(op) << result << "\n" << problems.str();
		}
	}

	std::string heading(const Op& op) const
	{
		return "[" + std::to_string(index_) + "] " + op.text + "  (line " + std::to_string(op.line) + "): ";
	}

	// ---- operations ------------------------------------------------------------------
	std::string apply(const Fault& f)
	{
		if constexpr (M::is_td)
			return ret_pf_name(m_.vm().fault(f.vcpu, f.gpa, f.level, f.write));
		else
			return ret_pf_name(m_.fault(f));
	}

	std::string apply(const Finalize&)
	{
		if constexpr (M::is_td)
			return m_.vm().finalize() ? "finalized (RUNNABLE)" : "finalize failed";
		return "";
	}

	std::string apply(const Enter& e)
	{
		if constexpr (M::is_td) {
			// KVM_RUN holds vcpu->mutex for as long as the vCPU runs
			// (kvm_vcpu_ioctl()), so a vCPU in the guest cannot be entered
			// again: the scenario asks for what no kernel does, and its
			// trace would not be a kernel's.
			if (m_.vm().module().num_vcpus() > e.vcpu && m_.vm().module().vcpu(e.vcpu).in_guest) {
				impossible_++;
				return "FAILED: vCPU " + std::to_string(e.vcpu) +
				       " is in the guest already (KVM_RUN holds vcpu->mutex); 'exit vcpu=" +
				       std::to_string(e.vcpu) + "' first";
			}
			if (m_.vm().tdx().wait_for_sept_zap())
				return "refused: wait_for_sept_zap";
			return status_text(m_.vm().enter(e.vcpu));
		}
		return "";
	}

	std::string apply(const Exit& e)
	{
		if constexpr (M::is_td)
			return m_.vm().exit(e.vcpu) ? "exited the guest" : "not in the guest: nothing to do";
		return "";
	}

	std::string apply(const Unmap& u)
	{
		Mmu& mmu = m_.mmu();
		const unsigned types = mmu.filter_to_root_types(u.private_range, u.shared_range);
		const bool flush = mmu.unmap_gfn_range(u.range.start, u.range.end, types, true, false);
		return flush ? "zapped, TLB flushed" : "nothing zapped";
	}

	std::string apply(const Split& s)
	{
		const VcpuRoots& v = m_.roots(0);
		const u32 root = s.root == RootKind::mirror ? v.mirror : v.direct;
		if (!live_root(root))
			return std::string("vCPU 0 has no ") + (s.root == RootKind::mirror ? "mirror" : "direct") +
			       " root: nothing to split";
		return "split returned " + errno_name(m_.mmu().split_huge_pages(root, s.range.start, s.range.end, s.level,
										  s.shared));
	}

	std::string apply(const Invalidate& i)
	{
		const std::size_t before = count_roots([](const MmuPage& p) { return p.invalid; });
		m_.mmu().invalidate_roots(i.types);
		const std::size_t after = count_roots([](const MmuPage& p) { return p.invalid; });
		return std::to_string(after - before) + " root(s) invalidated";
	}

	std::string apply(const ZapInvalidated& z)
	{
		const std::size_t n = count_roots([](const MmuPage& p) { return p.scheduled_root_to_zap; });
		m_.mmu().zap_invalidated_roots(z.shared);
		return std::to_string(n) + " root(s) zapped";
	}

	std::string apply(const Rcu&)
	{
		const std::size_t n = m_.mmu().rcu_queue().size();
		m_.mmu().rcu_barrier();
		return "grace period: " + std::to_string(n) + " callback(s) ran";
	}

	std::string apply(const Busy& b)
	{
		if constexpr (M::is_td) {
			m_.vm().module().inject_busy = b.locks;
			return "the next SEAMCALL finds the lock(s) contended";
		}
		return "";
	}

	std::string apply(const GmemRelease&)
	{
		if constexpr (M::is_td) {
			const unsigned pinned = m_.vm().tdx().pinned_inodes();
			m_.vm().gmem_release();
			return m_.vm().tdx().pinned_inodes() > pinned ? "inode pinned: removal deferred to TD teardown"
								      : "private range unmapped";
		}
		return "";
	}

	std::string apply(const Destroy&)
	{
		if constexpr (M::is_td)
			return m_.vm().destroy() ? "destroyed" : "destroy incomplete (pages leaked)";
		return "";
	}

	std::string apply(const Teardown&)
	{
		if constexpr (!M::is_td) {
			m_.teardown();
			return "roots unloaded, TDP MMU uninitialised";
		}
		return "";
	}

	// ---- expectations -----------------------------------------------------------------
	std::optional<std::string> verify(const ExpectSpte& e)
	{
		const VcpuRoots& v = m_.roots(0);
		const u32 root = e.root == RootKind::mirror ? v.mirror : v.direct;
		std::optional<u64> spte;
		if (live_root(root)) {
			const auto l = m_.mmu().lookup(root, e.gfn, e.level);
			if (l.level == e.level)
				spte = l.spte;
		}
		const bool present = spte && spec::is_shadow_present_pte(spec::concrete, m_.mmu().config().flavor, *spte);
		const std::string got = !spte     ? "no SPTE at that level"
					: present ? "present " + hex(*spte)
						  : "absent " + hex(*spte);
		switch (e.want) {
		case ExpectSpte::Want::value:
			return spte && *spte == e.value ? std::nullopt : std::optional<std::string>("got " + got);
		case ExpectSpte::Want::present:
			return present ? std::nullopt : std::optional<std::string>("got " + got);
		case ExpectSpte::Want::absent:
			return !present ? std::nullopt : std::optional<std::string>("got " + got);
		}
		return std::nullopt;
	}

	std::optional<std::string> verify(const ExpectSept& e)
	{
		if constexpr (M::is_td) {
			const auto entry = m_.vm().module().sept_entry(e.gpa, e.level - 1);
			const std::string got = entry ? sept_state_name(entry->state) : "UNREACHED";
			const bool ok = !e.state ? !entry
					: *e.state == SeptState::FREE ? !entry || entry->state == SeptState::FREE
								       : entry && entry->state == *e.state;
			return ok ? std::nullopt : std::optional<std::string>("got " + got);
		}
		return std::nullopt;
	}

	std::optional<std::string> verify(const ExpectCalls& e)
	{
		if constexpr (M::is_td) {
			std::string why;
			for (const auto& [leaf, n] : e.counts) {
				const u64 got = m_.vm().module().calls(leaf);
				if (got != n)
					why += (why.empty() ? "" : "; ") + leaf_name(leaf) + " was called " + std::to_string(got) +
					       " time(s)";
			}
			return why.empty() ? std::nullopt : std::optional<std::string>(why);
		}
		return std::nullopt;
	}

	std::optional<std::string> verify(const ExpectCounts& e)
	{
		std::string why;
		auto check = [&](const std::optional<u64>& want, u64 got, const char* what) {
			if (want && *want != got)
				why += (why.empty() ? "" : "; ") + std::string(what) + " is " + std::to_string(got);
		};
		const u64 bugs = m_.bugs();
		check(e.bugs, bugs, "bugs");
		if (e.bugs && *e.bugs == bugs)
			tolerated_bugs_ = bugs;
		check(e.roots, m_.mmu().roots().size(), "roots");
		check(e.rcu_pending, m_.mmu().rcu_queue().size(), "rcu-pending");
		check(e.tables, m_.mmu().tables().live(), "tables");
		check_pages(e, why);
		return why.empty() ? std::nullopt : std::optional<std::string>(why);
	}

	void check_pages(const ExpectCounts& e, std::string& why)
	{
		const auto add = [&](const std::string& s) { why += (why.empty() ? "" : "; ") + s; };
		if constexpr (M::is_td) {
			const HostPages& p = m_.vm().pages();
			if (e.pages_free_all && p.free_count() != p.count())
				add(std::to_string(p.count() - p.free_count()) + " of " + std::to_string(p.count()) +
				    " TDMR frames still allocated");
			if (e.pages_free && *e.pages_free != p.free_count())
				add("pages-free is " + std::to_string(p.free_count()));
		} else {
			if (e.pages_free_all && m_.mmu().tables().live() != 0)
				add(std::to_string(m_.mmu().tables().live()) + " page table(s) still live");
		}
	}

	std::optional<std::string> verify(const ExpectRoot& e)
	{
		const PageTables& pt = m_.mmu().tables();
		if (e.id >= pt.capacity())
			return "sp " + std::to_string(e.id) + " was never allocated";
		const MmuPage& p = pt[e.id];
		if (!p.root)
			return "sp " + std::to_string(e.id) + " is not a root";
		const RootWant got = p.state == SpState::freed ? RootWant::freed
				     : p.invalid                ? RootWant::invalid
								: RootWant::valid;
		constexpr const char* names[] = {"valid", "invalid", "freed"};
		return got == e.state ? std::nullopt
				      : std::optional<std::string>("root is " + std::string(names[static_cast<int>(got)]));
	}

	std::optional<std::string> verify(const ExpectVcpu& e)
	{
		if constexpr (M::is_td) {
			const bool in_guest = m_.vm().module().vcpu(e.id).in_guest;
			return in_guest == e.in_guest ? std::nullopt
						      : std::optional<std::string>(in_guest ? "vCPU is in the guest"
											    : "vCPU is outside the guest");
		}
		return std::nullopt;
	}

	// ---- SEAMCALLs, bugs, refinement ------------------------------------------------
	void print_seamcalls(std::ostream& out)
	{
		if constexpr (M::is_td)
			print_calls(m_.vm().module(), out);
	}

	template <class Module>
	void print_calls(Module& module, std::ostream& out)
	{
		if constexpr (TracedModule<Module>) {
			for (; trace_seen_ < module.trace.size(); trace_seen_++) {
				const auto& c = module.trace[trace_seen_];
				if (c.td_exit)
					continue; // a TD exit, not a SEAMCALL
				out << "    " << leaf_name(c.leaf) << " " << call_operands(c.leaf, c.rcx, c.r8) << " -> "
				    << status_text(c.status) << "\n";
			}
		} else {
			for (const auto& n : leaf_names) {
				const u64 calls = module.calls(n.leaf);
				u64& seen = calls_seen_[static_cast<u64>(n.leaf)];
				if (calls > seen)
					out << "    " << n.name << " x" << calls - seen << "\n";
				seen = calls;
			}
		}
	}

	static std::string call_operands(Leaf leaf, u64 rcx, u64 r8)
	{
		if (!takes_page_info(leaf))
			return rcx_name(leaf) + "=" + hex(rcx);
		const unsigned tdx_level = leaf == Leaf::TDH_MEM_PAGE_ADD ? 0 : static_cast<unsigned>(rcx & 7);
		std::string s = "gpa=" + hex(rcx & hw::sim::GPA_MASK) + " level=" + std::to_string(tdx_level + 1);
		if (r8)
			s += " page=" + hex(r8);
		return s;
	}

	void mark_logs()
	{
		mmu_events_seen_ = m_.mmu().log().events().size();
		if constexpr (M::is_td)
			tdx_events_seen_ = m_.vm().tdx_log().events().size();
		print_seamcalls(discard_);
	}

	void print_new_bugs(std::ostream& out)
	{
		print_bug_events(m_.mmu().log(), mmu_events_seen_, out);
		if constexpr (M::is_td) {
			print_bug_events(m_.vm().tdx_log(), tdx_events_seen_, out);
		} else if (m_.hooks_bugged() && !hooks_bug_reported_) {
			out << "    KVM BUG: an external page-table hook ran on a VM without external page tables\n";
			hooks_bug_reported_ = true;
		}
	}

	static void print_bug_events(const EventLog& log, std::size_t& seen, std::ostream& out)
	{
		for (; seen < log.events().size(); seen++)
			if (log.events()[seen].kind == EventKind::kvm_bug)
				out << "    KVM BUG: " << log.events()[seen].what << "\n";
	}

	// Each violation is reported once: the root check starts again from the
	// state after the violating operation, and a location where mirror and
	// S-EPT disagree counts again only when its disagreement changes.  Both
	// checks cost what the operation changed (refinement.hpp,
	// mirror_check.hpp), so --refine stays linear in the scenario.
	void check_refinement(std::ostream& out)
	{
		const RefinementResult r = refine_->check();
		if (!r.ok)
			report_violation(r.why, out);
		if constexpr (M::is_td) {
			const u32 mirror = checked_mirror_root();
			for (const std::string& why : mirror_refine_->check(mirror))
				report_violation("mirror root sp " + std::to_string(mirror) + " and S-EPT disagree: " + why, out);
		}
	}

	void report_violation(const std::string& why, std::ostream& out)
	{
		violations_++;
		out << "    refinement violated: " << why << "\n";
	}

	// The mirror root KVM uses: vCPU 0's, else a valid one on the list.
	u32 checked_mirror_root() const
	{
		const u32 r = m_.roots(0).mirror;
		if (live_root(r))
			return r;
		for (const u32 root : m_.mmu().roots())
			if (m_.mmu().tables()[root].mirror && !m_.mmu().tables()[root].invalid)
				return root;
		return NO_SP;
	}

	// ---- helpers ---------------------------------------------------------------------
	bool live_root(u32 root) const
	{
		const PageTables& pt = m_.mmu().tables();
		return root != NO_SP && root < pt.capacity() && pt[root].state != SpState::freed;
	}

	template <class Pred>
	std::size_t count_roots(Pred pred) const
	{
		std::size_t n = 0;
		for (const u32 r : m_.mmu().roots())
			n += pred(m_.mmu().tables()[r]) ? 1 : 0;
		return n;
	}

	// ---- the final state -------------------------------------------------------------
	void print_final_state()
	{
		out_ << "\n== final state\n";
		print_vcpus();
		print_roots();
		if constexpr (M::is_td) {
			print_sept();
			print_td();
			print_pages();
		}
	}

	void print_vcpus()
	{
		for (unsigned i = 0; i < m_.vcpus(); i++) {
			const VcpuRoots& v = m_.roots(i);
			out_ << "vCPU " << i << ":";
			if constexpr (M::is_td)
				out_ << " mirror root " << sp_name(v.mirror) << ",";
			out_ << " direct root " << sp_name(v.direct);
			if constexpr (M::is_td)
				out_ << (m_.vm().module().num_vcpus() > i && m_.vm().module().vcpu(i).in_guest ? ", in guest"
														: ", outside the guest");
			out_ << "\n";
		}
	}

	static std::string sp_name(u32 sp) { return sp == NO_SP ? "none" : "sp " + std::to_string(sp); }

	void print_roots()
	{
		const Mmu& mmu = m_.mmu();
		out_ << "roots: " << mmu.roots().size() << " on tdp_mmu_roots, " << mmu.tables().live()
		     << " page table(s) live, " << mmu.rcu_queue().size() << " RCU callback(s) pending\n";
		for (const u32 root : mmu.roots()) {
			out_ << "  " << root_label(mmu.tables()[root], root) << "\n";
			const std::vector<Row> rows = TreeWalk<Mmu>(mmu).rows(root);
			print_rows(out_, indented(rows, 1));
		}
	}

	static std::vector<Row> indented(std::vector<Row> rows, unsigned by)
	{
		for (Row& r : rows)
			r.depth += by;
		return rows;
	}

	void print_sept()
	{
		if constexpr (M::is_td) {
			const std::vector<Row> rows = sept_rows(m_.vm().module());
			out_ << "S-EPT (simulated TDX module): " << rows.size() << " entr" << (rows.size() == 1 ? "y" : "ies")
			     << " not FREE, " << m_.vm().module().sept_pages() << " S-EPT page(s)\n";
			print_rows(out_, rows);
		}
	}

	void print_td()
	{
		if constexpr (M::is_td) {
			const hw::SimModule& mod = m_.vm().module();
			constexpr std::string_view kvm_states[] = {"uninitialized", "initialized", "runnable"};
			out_ << "TD: " << (mod.has_td() ? "lifecycle " + table_name(lifecycle_names, mod.td().lifecycle) +
								  ", op_state " + table_name(op_state_names, mod.td().op_state)
							: std::string("none in the module"))
			     << "; KVM: " << kvm_states[static_cast<int>(m_.vm().tdx().state())] << ", HKID "
			     << (m_.vm().tdx().hkid_assigned() ? "assigned" : "released") << "\n";
		}
	}

	void print_pages()
	{
		if constexpr (M::is_td) {
			TdVm& vm = m_.vm();
			const HostPages& host = vm.pages();
			out_ << "pages: " << host.free_count() << " of " << host.count() << " TDMR frames free; guest_memfd holds "
			     << vm.gmem().size() << "; private pages released to the host: "
			     << vm.tdx().released_pages().size() << "\n";
			out_ << "PAMT:" << pamt_counts(vm.module(), host) << "\n";
		}
	}

	// Pages by PAMT type, each counted once at its head frame.
	static std::string pamt_counts(const hw::SimModule& mod, const HostPages& host)
	{
		std::map<u64, std::map<unsigned, u64>> by_type; // type -> size -> pages
		for (u64 pfn = host.base(); pfn < host.base() + host.count(); pfn++) {
			const auto v = mod.pamt(pfn);
			if (v && v->head_pfn == pfn)
				by_type[static_cast<u64>(v->pt)][v->size]++;
		}
		std::string s;
		for (const auto& [type, sizes] : by_type) {
			s += " " + table_name(page_type_names, type) + "=";
			std::string parts;
			for (const auto& [size, n] : sizes)
				parts += (parts.empty() ? "" : "+") + std::to_string(n) + (size ? "x" + size_name(size) : "");
			s += parts;
		}
		return s;
	}

	// ---- --trace ------------------------------------------------------------------------
	bool write_trace_file()
	{
		errno = 0;
		std::ofstream f(opt_.trace_path);
		if (!f)
			return cannot_write(opt_.trace_path);
		TraceInput t = m_.trace_input();
		t.source = source_;
		const std::size_t n = write_trace(f, t);
		f.close();
		if (!f)
			return cannot_write(opt_.trace_path);
		if (!opt_.quiet)
			out_ << "trace: " << n << " events written to " << support::printable(opt_.trace_path) << "\n";
		return true;
	}

	bool write_trace_stream()
	{
		TraceInput t = m_.trace_input();
		t.source = source_;
		write_trace(*opt_.trace_stream, t);
		return static_cast<bool>(*opt_.trace_stream);
	}

	// errno is the failed open's or write's (std::ofstream keeps it).
	bool cannot_write(const std::string& path)
	{
		const int e = errno;
		out_ << "FAILED: cannot write " << support::printable(path) << (e ? ": " + std::string(std::strerror(e)) : "")
		     << "\n";
		return false;
	}

	// ---- Graphviz ----------------------------------------------------------------------
	bool write_dot()
	{
		errno = 0;
		std::ofstream f(opt_.dot_path);
		if (!f)
			return cannot_write(opt_.dot_path);
		f << "digraph arborist {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n";
		DotWriter<Mmu> dot(m_.mmu(), f);
		for (const u32 root : m_.mmu().roots())
			dot.root_cluster(root, root_label(m_.mmu().tables()[root], root));
		if constexpr (M::is_td) {
			if (!m_.vm().module().has_td())
				return finish_dot(f);
			const std::vector<std::string> sept_nodes = write_sept_cluster(m_.vm().module(), f);
			for (const u32 root : m_.mmu().roots())
				if (m_.mmu().tables()[root].mirror)
					dot.correspondence(root, sept_nodes);
		}
		return finish_dot(f);
	}

	bool finish_dot(std::ofstream& f)
	{
		f << "}\n";
		f.close();
		return f ? true : cannot_write(opt_.dot_path);
	}

	// ---- the verdict -------------------------------------------------------------------
	int verdict(bool dot_written, bool trace_written)
	{
		const u64 bugs = m_.bugs();
		const u64 unexpected = bugs > tolerated_bugs_ ? bugs - tolerated_bugs_ : 0;
		const bool ok = failures_ == 0 && impossible_ == 0 && unexpected == 0 && violations_ == 0 && dot_written &&
				trace_written;
		out_ << "\nresult: " << (ok ? "ok" : "FAILED") << ": " << sc_.ops.size() << " operation(s), "
		     << expects_ - failures_ << " of " << expects_ << " expectation(s) held, " << bugs << " KVM bug(s) ("
		     << unexpected << " unexpected)";
		if (opt_.refine)
			out_ << ", " << violations_ << " refinement violation(s)";
		if (impossible_)
			out_ << ", " << impossible_ << " operation(s) no kernel performs";
		if (!dot_written)
			out_ << ", Graphviz file not written";
		if (!trace_written)
			out_ << ", trace file not written";
		out_ << "\n";
		return ok ? 0 : 1;
	}

	const Scenario& sc_;
	const RunOptions& opt_;
	M& m_;
	std::ostream& out_;
	std::string source_;
	std::optional<RootRefinement<typename M::Hooks>> refine_;
	std::optional<MirrorRefinement> mirror_refine_;
	std::ostringstream discard_;
	std::size_t index_ = 0;
	std::size_t trace_seen_ = 0;
	std::map<u64, u64> calls_seen_;
	std::size_t mmu_events_seen_ = 0, tdx_events_seen_ = 0;
	bool hooks_bug_reported_ = false;
	u64 expects_ = 0, failures_ = 0, violations_ = 0, impossible_ = 0;
	u64 tolerated_bugs_ = 0;
};

template <class M>
int run_on(const Scenario& sc, const RunOptions& o, std::ostream& out, const std::string& path)
{
	const auto machine = std::make_unique<M>(sc.vm);
	return Runner<M>(sc, o, *machine, out, path).run();
}

} // namespace

// `--trace` writes a kernel's trace for `arborist conform`, which replays it
// against what Linux does.  A VM whose behaviour no kernel has cannot
// write one that conforms, so such a run is refused before it starts:
// a page-table geometry other than x86's 512 entries per table, and seed
// 000's RCU-deferred branch zap, whose children are frozen in a later
// RCU callback where every kernel's handle_removed_pt() freezes them at
// once.  (The huge-page and deferred-teardown variants write traces that
// conform; tests/scenario_property_test.cpp checks every variant.)
std::optional<ParseError> trace_refusal(const Scenario& sc)
{
	const std::string why = "--trace writes a Linux kernel trace for arborist conform, ";
	if (sc.vm.level_bits() != spec::SPTE_LEVEL_BITS)
		return ParseError{sc.vm_line, "paging",
				  why + "and Linux's tables have 512 entries (paging=9x4 or 9x5)"};
	if (sc.vm.variants.removal == Variants::Removal::rcu_deferred_seed000)
		return ParseError{sc.vm_line, "removal",
				  why + "and no kernel defers freezing a removed table's children to RCU "
					"(removal=rcu-deferred); run it without --trace"};
	return std::nullopt;
}

int run_scenario(support::ByteSource& src, const RunOptions& options, std::ostream& out, std::ostream& err)
{
	Scenario sc;
	try {
		support::LineReader in(src, kMaxLine);
		try {
			sc = parse_scenario(in);
		} catch (const ParseError& e) {
			err << support::printable(in.name()) << ":" << e.line << ": field " << echo_input(e.field) << ": "
			    << e.what << "\n";
			return 2;
		}
	} catch (const support::InputError& e) {
		err << e.what() << "\n";
		return 2;
	}
	const std::string name(src.name());
	if (options.trace_stream || !options.trace_path.empty())
		if (const std::optional<ParseError> e = trace_refusal(sc)) {
			err << support::printable(name) << ":" << e->line << ": field " << echo_input(e->field) << ": "
			    << e->what << "\n";
			return 2;
		}
	if (sc.vm.is_td())
		return run_on<TdMachine>(sc, options, out, name);
	return run_on<PlainMachine>(sc, options, out, name);
}

int run_scenario(const std::string& path, const RunOptions& options, std::ostream& out, std::ostream& err)
{
	std::unique_ptr<support::FileSource> src;
	try {
		src = std::make_unique<support::FileSource>(path);
	} catch (const support::InputError& e) {
		err << e.what() << "\n";
		return 2;
	}
	return run_scenario(*src, options, out, err);
}

} // namespace arborist::cli
