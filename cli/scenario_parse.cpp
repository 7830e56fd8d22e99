// SPDX-License-Identifier: GPL-2.0-only
//
// arborist run: the scenario parser.  Each line is split into words and
// key=value tokens (Args), the command's parser consumes what it needs and
// whatever is left is an error; the command table says which VM kinds take
// which commands and what may follow a destroy.
#include "scenario_parse.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "arborist/hw/sim_module.hpp"
#include "arborist/impl/variant_names.hpp"
#include "arborist/support/line_reader.hpp"
#include "scenario_names.hpp"

namespace arborist::cli::scenario {

namespace {

using namespace arborist::impl;
using tdx_abi::Leaf;
using spec::SeptState;
using spec::sept_state_names;

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
			fail(key, "range " + echo_input(v) + " goes beyond " + support::hex(limit) + ", the VM's GFN limit");
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
	vm.tdx_variants.private_huge_pages = a.choice("huge", {"off", "on"}, 0) == 1;
	vm.tdx_variants.teardown = a.variant("teardown", impl::teardown_names, TdxVariants::Teardown::dynamic_v6_19);
	vm.tdx_variants.busy_kick_retry = a.variant("busy-retry", impl::busy_retry_names, true);
}

void parse_plain_vm(Args& a, VmSpec& vm)
{
	for (const std::string_view td_key : {"pwl", "vcpus", "tdmr_pages", "mirror-write", "huge", "teardown", "busy-retry"})
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

} // namespace

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
	if (sc.vm.variants.removal == Variants::Removal::rcu_deferred)
		return ParseError{sc.vm_line, "removal",
				  why + "and no kernel defers freezing a removed table's children to RCU "
					"(removal=rcu-deferred); run it without --trace"};
	return std::nullopt;
}

} // namespace arborist::cli::scenario
