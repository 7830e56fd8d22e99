// SPDX-License-Identifier: GPL-2.0-only
//
// ftrace text: line splitting, the line prefix, and the payload decoders of
// the events the conformance checker replays (see ftrace.hpp).
#include "ftrace.hpp"

#include "arborist/abi/tdx.hpp"
#include "arborist/support/text.hpp"
#include "announce.h"

#include <algorithm>
#include <array>
#include <iterator>
#include <cstring>

namespace arborist::conform {

using support::hex_digits;

namespace {

constexpr bool is_space(char c) { return c == ' ' || c == '\t'; }
constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }
constexpr bool is_ident(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

std::size_t skip_spaces(std::string_view s, std::size_t i)
{
	while (i < s.size() && is_space(s[i]))
		i++;
	return i;
}

std::string_view rtrim(std::string_view s)
{
	while (!s.empty() && is_space(s.back()))
		s.remove_suffix(1);
	return s;
}

// A field's text in a message: at most 40 bytes, control and invalid
// UTF-8 bytes escaped (support/text.hpp), so a bad trace cannot write to
// the terminal.
std::string quoted(std::string_view s) { return support::quoted(s, 40); }

// Unsigned decimal, the whole token; nullopt if not a number or above max.
std::optional<u64> to_dec(std::string_view t, u64 max)
{
	constexpr std::size_t SAFE_DIGITS = 19; // 10^19 - 1 < 2^64
	if (t.empty() || t.size() > SAFE_DIGITS + 1)
		return std::nullopt;
	u64 v = 0;
	for (std::size_t i = 0; i < t.size(); i++) {
		const unsigned d = static_cast<unsigned char>(t[i]) - '0';
		if (d > 9)
			return std::nullopt;
		if (i < SAFE_DIGITS)
			v = v * 10 + d;
		else if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, d, &v))
			return std::nullopt;
	}
	if (v > max)
		return std::nullopt;
	return v;
}

// Hexadecimal digit values; -1 for anything else.
constexpr std::array<signed char, 256> HEX_DIGIT = [] {
	std::array<signed char, 256> a{};
	a.fill(-1);
	for (int c = 0; c < 10; c++)
		a['0' + c] = static_cast<signed char>(c);
	for (int c = 0; c < 6; c++) {
		a['a' + c] = static_cast<signed char>(10 + c);
		a['A' + c] = static_cast<signed char>(10 + c);
	}
	return a;
}();

// Hexadecimal with an optional 0x, the whole token, at most 64 bits.
std::optional<u64> to_hex(std::string_view t)
{
	if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X'))
		t.remove_prefix(2);
	while (t.size() > 1 && t[0] == '0')
		t.remove_prefix(1);
	if (t.empty() || t.size() > 16)
		return std::nullopt;
	u64 v = 0;
	for (char c : t) {
		const int d = HEX_DIGIT[static_cast<unsigned char>(c)];
		if (d < 0)
			return std::nullopt;
		v = (v << 4) | static_cast<u64>(d);
	}
	return v;
}

// The tokens of one payload, read left to right; every read names the
// field it is for, which is what an error reports.
class Fields {
public:
	Fields(std::string_view s, const Where& w) : s_(s), w_(w) {}

	[[noreturn]] void fail(std::string_view field, const std::string& what) const
	{
		throw ParseError(w_, field, what);
	}

	std::string_view peek()
	{
		pos_ = skip_spaces(s_, pos_);
		std::size_t e = pos_;
		while (e < s_.size() && !is_space(s_[e]))
			e++;
		return s_.substr(pos_, e - pos_);
	}

	std::string_view token(std::string_view field)
	{
		const std::string_view t = peek();
		if (t.empty())
			fail(field, "missing");
		pos_ += t.size();
		return t;
	}

	// The fixed word that labels a field, e.g. "gfn" in "gfn 400".
	void label(std::string_view word, std::string_view field)
	{
		const std::string_view t = peek();
		if (t != word)
			fail(field, t.empty() ? "missing" : "expected '" + std::string(word) + "', found " + quoted(t));
		pos_ += t.size();
	}

	u64 hex(std::string_view field)
	{
		const std::string_view t = token(field);
		const std::optional<u64> v = to_hex(t);
		if (!v)
			fail(field, "expected a hexadecimal number of at most 64 bits, found " + quoted(t));
		return *v;
	}

	u64 dec(std::string_view field, u64 max)
	{
		const std::string_view t = token(field);
		return dec_of(t, field, max);
	}

	u64 dec_of(std::string_view t, std::string_view field, u64 max) const
	{
		const std::optional<u64> v = to_dec(t, max);
		if (!v)
			fail(field, "expected a decimal number from 0 to " + std::to_string(max) + ", found " + quoted(t));
		return *v;
	}

	long long sdec(std::string_view field, long long lo, long long hi)
	{
		std::string_view t = token(field);
		const bool neg = !t.empty() && t[0] == '-';
		const std::optional<u64> v = to_dec(neg ? t.substr(1) : t, u64{1} << 62);
		const long long n = v ? (neg ? -static_cast<long long>(*v) : static_cast<long long>(*v)) : 0;
		if (!v || n < lo || n > hi)
			fail(field, "expected a decimal number from " + std::to_string(lo) + " to " + std::to_string(hi) +
					    ", found " + quoted(t));
		return n;
	}

	bool flag(std::string_view field)
	{
		return dec(field, 1) != 0;
	}

	void end(std::string_view last_field)
	{
		const std::string_view t = peek();
		if (!t.empty())
			fail(last_field, "unexpected text after it: " + quoted(s_.substr(pos_)));
	}

private:
	std::string_view s_;
	const Where& w_;
	std::size_t pos_ = 0;
};

// ---- the line prefix ----------------------------------------------------------

bool is_timestamp_token(std::string_view t)
{
	if (t.size() < 2 || t.back() != ':')
		return false;
	t.remove_suffix(1);
	const std::size_t dot = t.find('.');
	const std::string_view sec = t.substr(0, dot);
	const std::string_view frac = dot == std::string_view::npos ? std::string_view{"0"} : t.substr(dot + 1);
	auto digits = [](std::string_view d) {
		if (d.empty())
			return false;
		for (char c : d)
			if (!is_digit(c))
				return false;
		return true;
	};
	return digits(sec) && digits(frac);
}

std::string_view token_at(std::string_view s, std::size_t i)
{
	std::size_t e = i;
	while (e < s.size() && !is_space(s[e]))
		e++;
	return s.substr(i, e - i);
}

// The '[' of "[CPU]": preceded by white space, followed by digits and ']'.
std::size_t find_cpu_bracket(std::string_view s, std::size_t from)
{
	for (std::size_t p = s.find('[', from); p != std::string_view::npos; p = s.find('[', p + 1)) {
		if (p == from || !is_space(s[p - 1]))
			continue;
		std::size_t q = p + 1;
		while (q < s.size() && is_digit(s[q]))
			q++;
		if (q > p + 1 && q < s.size() && s[q] == ']')
			return p;
	}
	return std::string_view::npos;
}

void parse_task(std::string_view left, TraceLine& t, const Where& w)
{
	left = rtrim(left);
	if (!left.empty() && left.back() == ')') {
		const std::size_t open = left.rfind('(');
		if (open == std::string_view::npos)
			throw ParseError(w, "tgid", "expected '(TGID)', found " + quoted(left));
		left = rtrim(left.substr(0, open));
	}
	const std::size_t dash = left.rfind('-');
	if (dash == std::string_view::npos || dash == 0)
		throw ParseError(w, "pid", "expected TASK-PID before '[CPU]', found " + quoted(left));
	const std::optional<u64> pid = to_dec(left.substr(dash + 1), 0xffffffffu);
	if (!pid)
		throw ParseError(w, "pid", "expected a decimal PID after the last '-', found " + quoted(left.substr(dash + 1)));
	t.comm = left.substr(0, dash);
	t.pid = static_cast<u32>(*pid);
}

// After "[CPU]": optional flags, the timestamp, "EVENT:", the payload.
void parse_after_cpu(std::string_view s, std::size_t p, TraceLine& t, const Where& w)
{
	p = skip_spaces(s, p);
	std::string_view tok = token_at(s, p);
	if (!is_timestamp_token(tok)) {
		t.flags = tok;
		p = skip_spaces(s, p + tok.size());
		tok = token_at(s, p);
		if (!is_timestamp_token(tok))
			throw ParseError(w, "timestamp", "expected SECONDS.MICROSECONDS: after the CPU and flags, found " +
								quoted(tok));
	}
	t.timestamp = tok.substr(0, tok.size() - 1);
	p = skip_spaces(s, p + tok.size());
	std::size_t e = p;
	while (e < s.size() && is_ident(s[e]))
		e++;
	if (e == p || e >= s.size() || s[e] != ':')
		throw ParseError(w, "event", "expected EVENT: after the timestamp, found " + quoted(s.substr(p)));
	t.event = s.substr(p, e - p);
	t.payload = rtrim(s.substr(skip_spaces(s, e + 1)));
}

TraceLine parse_event_line(std::string_view s, std::size_t i, const Where& w)
{
	TraceLine t;
	t.kind = LineKind::event;
	t.text = s;
	const std::size_t lb = find_cpu_bracket(s, i);
	if (lb == std::string_view::npos)
		throw ParseError(w, "cpu", "expected 'TASK-PID [CPU]' at the start of the line, found " + quoted(s.substr(i)));
	parse_task(s.substr(i, lb - i), t, w);
	const std::size_t rb = s.find(']', lb);
	const std::optional<u64> cpu = to_dec(s.substr(lb + 1, rb - lb - 1), MAX_CPU);
	if (!cpu)
		throw ParseError(w, "cpu", "expected a CPU number up to " + std::to_string(MAX_CPU) + ", found " +
						   quoted(s.substr(lb + 1, rb - lb - 1)));
	t.cpu = static_cast<u32>(*cpu);
	parse_after_cpu(s, rb + 1, t, w);
	return t;
}

// "# entries-in-buffer/entries-written: 21422/21422   #P:2" and
// "##### CPU 1 buffer started ####".
TraceLine parse_comment(std::string_view s, std::size_t i)
{
	TraceLine t;
	t.kind = LineKind::comment;
	t.text = s;
	std::string_view c = s.substr(i);
	constexpr std::string_view ENTRIES = "# entries-in-buffer/entries-written: ";
	constexpr std::string_view STARTED = "##### CPU ";
	if (c.starts_with(ENTRIES)) {
		c.remove_prefix(ENTRIES.size());
		const std::size_t slash = c.find('/');
		const std::string_view b = token_at(c, slash == std::string_view::npos ? c.size() : slash + 1);
		const auto in = to_dec(c.substr(0, slash), ~u64{0}), written = to_dec(b, ~u64{0});
		if (in && written) {
			t.kind = LineKind::entries;
			t.first = *in;
			t.second = *written;
			constexpr std::string_view CPUS = "#P:";
			if (const std::size_t p = c.find(CPUS); p != std::string_view::npos)
				t.cpus = static_cast<u32>(to_dec(token_at(c, p + CPUS.size()), u64{MAX_CPU} + 1).value_or(0));
		}
	} else if (c.starts_with(STARTED) && c.find(" buffer started") != std::string_view::npos) {
		t.kind = LineKind::buffer_started;
		t.first = to_dec(token_at(c, STARTED.size()), ~u64{0}).value_or(0);
	}
	return t;
}

// The number between a fixed prefix and suffix of c, if c is exactly that.
std::optional<u64> framed_dec(std::string_view c, std::string_view prefix, std::string_view suffix)
{
	if (c.size() <= prefix.size() + suffix.size() || !c.starts_with(prefix) || !c.ends_with(suffix))
		return std::nullopt;
	return to_dec(c.substr(prefix.size(), c.size() - prefix.size() - suffix.size()), ~u64{0});
}

// A map bpftrace prints when it exits ("@name: value", "@name[key]: value"):
// the scripts clear theirs in END, but an older bpftrace prints a
// cleared scalar map anyway.
bool bpftrace_map_line(std::string_view c)
{
	std::size_t e = 1;
	while (e < c.size() && is_ident(c[e]))
		e++;
	if (e == 1)
		return false;
	if (e < c.size() && c[e] == '[') {
		const std::size_t close = c.find("]:", e);
		if (close == std::string_view::npos)
			return false;
		e = close + 1;
	}
	return e < c.size() && c[e] == ':';
}

// trace-cmd's lines around the events: "cpus=2", "version = 6",
// "CPU 0 is empty"; bpftrace's (its text output, which tools/arborist-tdx.bt
// writes to stdout): "Attaching 61 probes..." before the first event, its
// maps at exit, and "Lost 12 events" where its perf buffer overran; and the
// loss markers of every writer.
std::optional<TraceLine> parse_header(std::string_view s, std::size_t i)
{
	const std::string_view c = rtrim(s.substr(i));
	TraceLine t;
	t.text = s;
	t.kind = LineKind::header;
	if (c.starts_with("cpus=") && to_dec(c.substr(5), ~u64{0})) {
		t.cpus = static_cast<u32>(to_dec(c.substr(5), u64{MAX_CPU} + 1).value_or(0));
		return t;
	}
	if (c.starts_with("version = ") && to_dec(c.substr(10), ~u64{0}))
		return t;
	if (c.starts_with("CPU ") && c.ends_with(" is empty") && to_dec(c.substr(4, c.size() - 13), MAX_CPU))
		return t;
	if (framed_dec(c, "Attaching ", " probes...") || framed_dec(c, "Attaching ", " probe...") ||
	    (c.starts_with('@') && bpftrace_map_line(c)))
		return t;
	if (const std::optional<u64> lost = framed_dec(c, "Lost ", " events")) {
		// bpftrace does not say which CPU's buffer lost them.
		t.kind = LineKind::lost_events;
		t.second = *lost;
		return t;
	}
	if (!c.starts_with("CPU:"))
		return std::nullopt;
	const std::size_t sp = c.find(' ');
	const auto cpu = to_dec(c.substr(4, sp - 4), MAX_CPU);
	const std::string_view rest = sp == std::string_view::npos ? std::string_view{} : c.substr(sp + 1);
	std::optional<u64> n;
	if (rest.starts_with("[LOST ") && rest.ends_with(" EVENTS]"))
		n = to_dec(rest.substr(6, rest.size() - 14), ~u64{0});
	else if (rest == "[EVENTS DROPPED]")
		n = 0;
	else if (rest.starts_with("[") && rest.ends_with(" EVENTS DROPPED]"))
		n = to_dec(rest.substr(1, rest.size() - 17), ~u64{0});
	if (!cpu || !n)
		return std::nullopt;
	t.kind = LineKind::lost_events;
	t.first = *cpu;
	t.second = *n;
	return t;
}

} // namespace

ParseError::ParseError(const Where& w, std::string_view field, const std::string& what)
	: std::runtime_error(std::string(w.file) + ":" + std::to_string(w.line) + ": field '" + std::string(field) +
			     "': " + what),
	  field_(field), line_(w.line), detail_(what)
{
}

// ---- the line prefix --------------------------------------------------------

TraceLine parse_trace_line(std::string_view text, const Where& w)
{
	const std::size_t i = skip_spaces(text, 0);
	if (i == text.size()) {
		TraceLine t;
		t.text = text;
		return t;
	}
	if (text[i] == '#')
		return parse_comment(text, i);
	if (text[i] == 'c' || text[i] == 'v' || text[i] == 'C' || text[i] == 'A' || text[i] == 'L' || text[i] == '@')
		if (std::optional<TraceLine> h = parse_header(text, i))
			return *h;
	return parse_event_line(text, i, w);
}

// ---- event payloads ---------------------------------------------------------

namespace {
constexpr std::size_t SHORTEST_EVENT_NAME = [] {
	std::size_t n = ~std::size_t{0};
	for (std::size_t i = 0; i + 1 < NUM_EVENT_IDS; i++)
		n = std::min(n, event_formats[i].name.size());
	return n;
}();
} // namespace

EventId classify_event(std::string_view name)
{
	if (name.size() < SHORTEST_EVENT_NAME)
		return EventId::other;
	for (std::size_t i = 0; i + 1 < NUM_EVENT_IDS; i++)
		if (name == event_formats[i].name)
			return static_cast<EventId>(i);
	return EventId::other;
}

std::string_view event_name(EventId id)
{
	return event_formats[static_cast<std::size_t>(id)].name;
}

std::string format_event(EventId id, std::initializer_list<FormatArg> args)
{
	const EventFormat& e = event_formats[static_cast<std::size_t>(id)];
	const auto bad = [&](std::string_view why) {
		return std::logic_error("format_event(" + std::string(e.name) + "): " + std::string(why));
	};
	std::string o = std::string(e.name) + ": ";
	const FormatArg* a = args.begin();
	for (std::size_t i = 0; i < e.format.size(); i++) {
		if (e.format[i] != '%') {
			o += e.format[i];
			continue;
		}
		std::size_t j = i + 1;
		while (j < e.format.size() && e.format[j] == 'l')
			j++;
		if (j == e.format.size())
			throw bad("a conversion without a type");
		if (a == args.end())
			throw bad("fewer values than conversions");
		const char type = e.format[j];
		if (type == 's' && a->kind == FormatArg::Kind::text)
			o += a->text;
		else if (type == 'x' && a->kind == FormatArg::Kind::number)
			o += hex_digits(a->number);
		else if ((type == 'd' || type == 'u') && a->kind == FormatArg::Kind::number)
			o += std::to_string(a->number);
		else if (type == 'd' && a->kind == FormatArg::Kind::signed_number)
			o += std::to_string(a->signed_number);
		else
			throw bad("value " + std::to_string(a - args.begin()) + " does not fit its conversion");
		a++;
		i = j;
	}
	if (a != args.end())
		throw bad("more values than conversions");
	return o;
}

SpteChanged decode_spte_changed(std::string_view payload, const Where& w)
{
	Fields f(payload, w);
	SpteChanged e;
	f.label("as", "as id");
	f.label("id", "as id");
	e.as_id = static_cast<u32>(f.dec("as id", 255));
	f.label("gfn", "gfn");
	e.gfn = f.hex("gfn");
	f.label("level", "level");
	e.level = static_cast<u32>(f.dec("level", 255));
	f.label("old_spte", "old_spte");
	e.old_spte = f.hex("old_spte");
	f.label("new_spte", "new_spte");
	e.new_spte = f.hex("new_spte");
	f.end("new_spte");
	return e;
}

namespace {

// "l4", "8-byte", "q0": a decimal with a fixed prefix or suffix.
u32 affixed_dec(Fields& f, std::string_view field, std::string_view prefix, std::string_view suffix, u64 max)
{
	const std::string_view t = f.token(field);
	if (!t.starts_with(prefix) || !t.ends_with(suffix) || t.size() <= prefix.size() + suffix.size())
		f.fail(field, "expected " + std::string(prefix) + "N" + std::string(suffix) + ", found " + quoted(t));
	return static_cast<u32>(f.dec_of(t.substr(prefix.size(), t.size() - prefix.size() - suffix.size()), field, max));
}

bool is_access_string(std::string_view a)
{
	return a.size() == 3 && (a[0] == 'w' || a[0] == '-') && (a[1] == 'u' || a[1] == '-') &&
	       (a[2] == 'x' || a[2] == '-');
}

// "nxe"/"!nxe", "ad"/"!ad": returns whether the '!' is there.
bool negatable(Fields& f, std::string_view word)
{
	const std::string_view t = f.token(word);
	if (t == word)
		return false;
	if (t.size() == word.size() + 1 && t[0] == '!' && t.substr(1) == word)
		return true;
	f.fail(word, "expected '" + std::string(word) + "' or '!" + std::string(word) + "', found " + quoted(t));
}

} // namespace

MmuPage decode_mmu_page(std::string_view payload, const Where& w, bool with_created)
{
	Fields f(payload, w);
	MmuPage p;
	f.label("sp", "sp");
	f.label("gen", "gen");
	p.gen = static_cast<u32>(f.dec("gen", 0xffffffffu));
	f.label("gfn", "gfn");
	p.gfn = f.hex("gfn");
	p.level = affixed_dec(f, "level", "l", "", 255);
	p.gpte_bytes = affixed_dec(f, "gpte size", "", "-byte", 8);
	p.quadrant = affixed_dec(f, "quadrant", "q", "", 3);
	p.direct = f.peek() == "direct";
	if (p.direct)
		f.token("direct");
	p.access = f.token("access");
	if (!is_access_string(p.access))
		f.fail("access", "expected one of ---, --x, w--, w-x, -u-, -ux, wu-, wux, found " + quoted(p.access));
	p.invalid = f.peek() == "invalid";
	if (p.invalid)
		f.token("invalid");
	p.efer_nx = !negatable(f, "nxe");
	p.ad_disabled = negatable(f, "ad");
	f.label("root", "root");
	p.root_count = static_cast<u32>(f.dec("root", 0xffffffffu));
	const std::string_view sync = f.token("sync");
	if (sync != "sync" && sync != "unsync")
		f.fail("sync", "expected 'sync' or 'unsync', found " + quoted(sync));
	p.unsync = sync == "unsync";
	if (with_created) {
		const std::string_view c = f.token("created");
		if (c != "new" && c != "existing")
			f.fail("created", "expected 'new' or 'existing', found " + quoted(c));
		p.created = c == "new" ? MmuPage::Created::created : MmuPage::Created::existing;
		f.end("created");
	} else {
		f.end("sync");
	}
	return p;
}

SplitHugePage decode_split_huge_page(std::string_view payload, const Where& w)
{
	Fields f(payload, w);
	SplitHugePage s;
	f.label("gfn", "gfn");
	s.gfn = f.hex("gfn");
	f.label("spte", "spte");
	s.spte = f.hex("spte");
	f.label("level", "level");
	s.level = static_cast<int>(f.sdec("level", -2147483648LL, 2147483647LL));
	f.label("errno", "errno");
	s.err = static_cast<int>(f.sdec("errno", -2147483648LL, 2147483647LL));
	f.end("errno");
	return s;
}

namespace {
// "(rwxu)": r/-, w/-, x/-, then u/- unless the flavour has no user bit.
void decode_access_flags(Fields& f, SetSpte& s)
{
	const std::string_view t = f.token("access");
	const bool ok = (t.size() == 5 || t.size() == 6) && t.front() == '(' && t.back() == ')' &&
			(t[1] == 'r' || t[1] == '-') && (t[2] == 'w' || t[2] == '-') && (t[3] == 'x' || t[3] == '-') &&
			(t.size() == 5 || t[4] == 'u' || t[4] == '-');
	if (!ok)
		f.fail("access", "expected (rwxu) with '-' for a missing permission, found " + quoted(t));
	s.r = t[1] == 'r';
	s.w = t[2] == 'w';
	s.x = t[3] == 'x';
	s.u = t.size() == 5 ? -1 : (t[4] == 'u' ? 1 : 0);
}
} // namespace

SetSpte decode_set_spte(std::string_view payload, const Where& w)
{
	Fields f(payload, w);
	SetSpte s;
	f.label("gfn", "gfn");
	s.gfn = f.hex("gfn");
	f.label("spte", "spte");
	s.spte = f.hex("spte");
	decode_access_flags(f, s);
	f.label("level", "level");
	s.level = static_cast<u32>(f.dec("level", 255));
	f.label("at", "at");
	s.at = f.hex("at");
	f.end("at");
	return s;
}

SpteRequested decode_spte_requested(std::string_view payload, const Where& w)
{
	Fields f(payload, w);
	SpteRequested r;
	f.label("gfn", "gfn");
	r.gfn = f.hex("gfn");
	f.label("pfn", "pfn");
	r.pfn = f.hex("pfn");
	f.label("level", "level");
	r.level = static_cast<u32>(f.dec("level", 255));
	f.end("level");
	return r;
}

namespace {
// __print_flags(error_code, "|", P, W, U, RSVD, F); bits without a name
// are printed as a hex remainder.
u32 decode_error_code(Fields& f, std::string_view t)
{
	u32 code = 0;
	for (std::size_t b = 0; b <= t.size();) {
		std::size_t e = t.find('|', b);
		if (e == std::string_view::npos)
			e = t.size();
		const std::string_view name = t.substr(b, e - b);
		if (name == "P")
			code |= PFERR_PRESENT;
		else if (name == "W")
			code |= PFERR_WRITE;
		else if (name == "U")
			code |= PFERR_USER;
		else if (name == "RSVD")
			code |= PFERR_RSVD;
		else if (name == "F")
			code |= PFERR_FETCH;
		else if (const std::optional<u64> v = to_hex(name); v && name.starts_with("0x"))
			code |= static_cast<u32>(*v);
		else
			f.fail("error_code", "expected flags from P|W|U|RSVD|F, found " + quoted(t));
		b = e + 1;
	}
	return code;
}
} // namespace

FastPageFault decode_fast_page_fault(std::string_view payload, const Where& w)
{
	Fields f(payload, w);
	FastPageFault e;
	f.label("vcpu", "vcpu");
	e.vcpu = static_cast<int>(f.sdec("vcpu", -2147483648LL, 2147483647LL));
	f.label("gva", "gva");
	e.gva = f.hex("gva");
	f.label("error_code", "error_code");
	// An error code without a named bit prints as nothing.
	if (f.peek() != "sptep")
		e.error_code = decode_error_code(f, f.token("error_code"));
	f.label("sptep", "sptep");
	e.sptep = f.token("sptep");
	f.label("old", "old");
	e.old_spte = f.hex("old");
	f.label("new", "new");
	e.new_spte = f.hex("new");
	f.label("spurious", "spurious");
	e.spurious = f.flag("spurious");
	f.label("fixed", "fixed");
	e.fixed = f.flag("fixed");
	f.end("fixed");
	return e;
}

ZapAllFast decode_zap_all_fast(std::string_view payload, const Where& w)
{
	Fields f(payload, w);
	ZapAllFast z;
	f.label("kvm-mmu-valid-gen", "kvm-mmu-valid-gen");
	z.valid_gen = static_cast<u32>(f.dec("kvm-mmu-valid-gen", 0xffffffffu));
	f.label("used_pages", "used_pages");
	z.used_pages = f.hex("used_pages");
	f.end("used_pages");
	return z;
}

MarkMmioSpte decode_mark_mmio_spte(std::string_view payload, const Where& w)
{
	Fields f(payload, w);
	MarkMmioSpte m;
	const std::string_view p = f.token("sptep");
	if (!p.starts_with("sptep:") || p.size() == 6)
		f.fail("sptep", "expected sptep:POINTER, found " + quoted(p));
	m.sptep = p.substr(6);
	f.label("gfn", "gfn");
	m.gfn = f.hex("gfn");
	f.label("access", "access");
	m.access = static_cast<u32>(f.hex("access"));
	f.label("gen", "gen");
	m.gen = static_cast<u32>(f.hex("gen"));
	f.end("gen");
	return m;
}

// ---- TDX events (docs/trace-format.md) ------------------------------------------

// The leaves a tdx_seamcall line may carry: tdx_abi::leaf_names' traced ones.
std::string_view tdx_leaf_name(u32 leaf)
{
	for (const tdx_abi::LeafName& l : tdx_abi::leaf_names)
		if (l.traced && static_cast<u32>(l.leaf) == leaf)
			return l.name;
	return {};
}

namespace {
constexpr std::string_view HOOK_NAMES[NUM_TDX_HOOKS] = {"link_external_spt", "set_external_spte",
							 "remove_external_spte", "free_external_spt",
							 "split_external_spt"};
} // namespace

std::string_view hook_name(TdxHook h) { return HOOK_NAMES[static_cast<std::size_t>(h)]; }

std::optional<TdxHook> hook_by_name(std::string_view name)
{
	for (std::size_t i = 0; i < NUM_TDX_HOOKS; i++)
		if (HOOK_NAMES[i] == name)
			return static_cast<TdxHook>(i);
	return std::nullopt;
}

TdParams decode_td_params(std::string_view payload, const Where& w)
{
	Fields f(payload, w);
	TdParams p;
	f.label("tdr", "tdr");
	p.tdr = f.hex("tdr");
	f.label("pwl", "pwl");
	p.pwl = static_cast<u32>(f.dec("pwl", 255));
	if (p.pwl != 4 && p.pwl != 5)
		f.fail("pwl", "expected 4 or 5 (EPTP.PWL of a TD), found " + std::to_string(p.pwl));
	f.label("x86_phys_bits", "x86_phys_bits");
	p.phys_bits = static_cast<u32>(f.dec("x86_phys_bits", 255));
	if (p.phys_bits < 36 || p.phys_bits > 52)
		f.fail("x86_phys_bits", "expected 36 to 52, found " + std::to_string(p.phys_bits));
	f.end("x86_phys_bits");
	return p;
}

Seamcall decode_seamcall(std::string_view payload, const Where& w)
{
	Fields f(payload, w);
	Seamcall c;
	f.label("leaf", "leaf");
	c.leaf_name = f.token("leaf");
	bool known = false;
	for (const tdx_abi::LeafName& l : tdx_abi::leaf_names)
		if (l.traced && l.name == c.leaf_name) {
			c.leaf = static_cast<u32>(l.leaf);
			known = true;
		}
	if (!known)
		f.fail("leaf", "expected a TDH.* leaf name of docs/trace-format.md, found " + quoted(c.leaf_name));
	const std::pair<std::string_view, u64*> regs[] = {
		{"rcx", &c.rcx}, {"rdx", &c.rdx}, {"r8", &c.r8}, {"r9", &c.r9}, {"status", &c.status},
		{"out_rcx", &c.out_rcx}, {"out_rdx", &c.out_rdx}, {"out_r8", &c.out_r8}};
	for (const auto& [name, v] : regs) {
		f.label(name, name);
		*v = f.hex(name);
	}
	f.end("out_r8");
	return c;
}

VcpuRun decode_vcpu_run(std::string_view payload, const Where& w, bool exit)
{
	Fields f(payload, w);
	VcpuRun v;
	f.label("tdvpr", "tdvpr");
	v.tdvpr = f.hex("tdvpr");
	if (exit) {
		f.label("status", "status");
		v.status = f.hex("status");
	}
	f.end(exit ? "status" : "tdvpr");
	return v;
}

HookCall decode_hook(std::string_view payload, const Where& w, bool exit)
{
	Fields f(payload, w);
	HookCall h;
	f.label("hook", "hook");
	const std::string_view name = f.token("hook");
	const std::optional<TdxHook> hook = hook_by_name(name);
	if (!hook)
		f.fail("hook", "expected link_external_spt, set_external_spte, remove_external_spte, "
			       "free_external_spt or split_external_spt, found " + quoted(name));
	h.hook = *hook;
	f.label("gfn", "gfn");
	h.gfn = f.hex("gfn");
	f.label("level", "level");
	h.level = static_cast<u32>(f.dec("level", 255));
	if (exit) {
		f.label("ret", "ret");
		h.ret = static_cast<int>(f.sdec("ret", -4095, 0));
		f.end("ret");
	} else {
		f.label("arg", "arg");
		h.arg = f.hex("arg");
		f.end("arg");
	}
	return h;
}

// ---- announced operations --------------------------------------------------------

namespace {

constexpr std::string_view OP_FORMATS[NUM_OP_KINDS] = {
	ARBORIST_OP_MEMSLOT_ADD, ARBORIST_OP_MEMSLOT_DELETE, ARBORIST_OP_MEMSLOT_MOVE, ARBORIST_OP_MEMSLOT_FLAGS,
	ARBORIST_OP_UNMAP,	 ARBORIST_OP_DIRTY_LOG_GET,  ARBORIST_OP_DIRTY_LOG_CLEAR, ARBORIST_OP_VM_DESTROY,
};
constexpr std::string_view OP_PREFIX = ARBORIST_OP_PREFIX;
constexpr std::string_view DIRTY_MODES[] = {ARBORIST_DIRTY_MODE_WRPROT, ARBORIST_DIRTY_MODE_MANUAL,
					    ARBORIST_DIRTY_MODE_MANUAL_INIT_SET};
constexpr std::string_view UNMAP_HOWS[] = {ARBORIST_UNMAP_DONTNEED, ARBORIST_UNMAP_MUNMAP};
// A GFN range lies below 2^40: 52-bit guest physical addresses (MAXPHYADDR).
constexpr u64 GFN_LIMIT = u64{1} << 40;

// The words of a format, left to right.
class Words {
public:
	explicit Words(std::string_view s) : s_(s) {}
	std::string_view next()
	{
		pos_ = skip_spaces(s_, pos_);
		std::size_t e = pos_;
		while (e < s_.size() && !is_space(s_[e]))
			e++;
		const std::string_view w = s_.substr(pos_, e - pos_);
		pos_ = e;
		return w;
	}

private:
	std::string_view s_;
	std::size_t pos_ = 0;
};

template <std::size_t N>
std::string word_list(const std::string_view (&words)[N])
{
	std::string s;
	for (std::size_t i = 0; i < N; i++)
		s += (i ? (i + 1 == N ? " or '" : ", '") : "'") + std::string(words[i]) + "'";
	return s;
}

template <std::size_t N>
std::size_t word_of(Fields& f, std::string_view field, const std::string_view (&words)[N])
{
	const std::string_view t = f.token(field);
	for (std::size_t i = 0; i < N; i++)
		if (t == words[i])
			return i;
	f.fail(field, "expected " + word_list(words) + ", found " + quoted(t));
}

std::string op_names()
{
	std::string s;
	for (std::size_t i = 0; i < NUM_OP_KINDS; i++)
		s += (i ? ", " : "") + std::string(op_name(static_cast<OpKind>(i)));
	return s;
}

// One "label conversion" pair of a format, read into the announcement.
void decode_op_field(Fields& f, std::string_view label, std::string_view conv, Announcement& a)
{
	if (label == "dirty_mode") {
		a.mode = static_cast<DirtyMode>(word_of(f, label, DIRTY_MODES));
		return;
	}
	if (label == "how") {
		a.how = static_cast<UnmapHow>(word_of(f, label, UNMAP_HOWS));
		return;
	}
	// KVM's address spaces and slot ids (the upper and lower 16 bits of
	// kvm_userspace_memory_region.slot) are small; the rest as printed.
	const u64 max = label == "as"	   ? 255
			: label == "slot"  ? 65535
			: conv == "%llx" || conv == "%llu" ? ~u64{0}
							   : u64{0xffffffff};
	u64 v = 0;
	if (conv == "%x" || conv == "%llx") {
		v = f.hex(label);
		if (v > max)
			f.fail(label, "expected a hexadecimal number of at most 32 bits, found " + hex_digits(v));
	} else {
		v = f.dec(label, max);
	}
	if (label == "vm")
		a.vm = static_cast<u32>(v);
	else if (label == "as")
		a.as_id = static_cast<u32>(v);
	else if (label == "slot")
		a.slot = static_cast<u32>(v);
	else if (label == "gfn")
		a.gfn = v;
	else if (label == "old_gfn")
		a.old_gfn = v;
	else if (label == "pages")
		a.pages = v;
	else if (label == "flags")
		a.flags = static_cast<u32>(v);
	else if (label == "old_flags")
		a.old_flags = static_cast<u32>(v);
	else if (label == "hva")
		a.hva = v;
}

// A range of pages below GFN_LIMIT, not empty.
void check_range(Fields& f, std::string_view gfn_field, u64 gfn, u64 pages)
{
	if (pages == 0)
		f.fail("pages", "expected at least 1 page, found 0");
	if (gfn >= GFN_LIMIT || pages > GFN_LIMIT - gfn)
		f.fail(gfn >= GFN_LIMIT || gfn_field != "gfn" ? gfn_field : std::string_view("pages"),
		       "the range " + hex_digits(gfn) + " + " + std::to_string(pages) +
			       " pages does not lie below gfn " + hex_digits(GFN_LIMIT) + " (52-bit guest physical addresses)");
}

} // namespace

std::string_view op_format(OpKind op) { return OP_FORMATS[static_cast<std::size_t>(op)]; }

std::string_view op_name(OpKind op)
{
	const std::string_view f = op_format(op);
	return f.substr(0, f.find(' '));
}

bool is_announcement(std::string_view payload)
{
	return payload.starts_with(rtrim(OP_PREFIX));
}

Announcement decode_announcement(std::string_view payload, const Where& w)
{
	Fields f(rtrim(payload), w);
	f.label(rtrim(OP_PREFIX), "arborist-op");
	const std::string_view name = f.token("op");
	std::size_t op = 0;
	while (op < NUM_OP_KINDS && op_name(static_cast<OpKind>(op)) != name)
		op++;
	if (op == NUM_OP_KINDS)
		f.fail("op", "expected one of " + op_names() + ", found " + quoted(name));
	Announcement a;
	a.op = static_cast<OpKind>(op);
	Words format(op_format(a.op));
	format.next(); // the name
	std::string_view last = "op";
	for (std::string_view label = format.next(); !label.empty(); label = format.next()) {
		const std::string_view conv = format.next();
		f.label(label, label);
		decode_op_field(f, label, conv, a);
		last = label;
	}
	f.end(last);
	if (a.op != OpKind::vm_destroy) {
		check_range(f, "gfn", a.gfn, a.pages);
		if (a.op == OpKind::memslot_move)
			check_range(f, "old_gfn", a.old_gfn, a.pages);
	}
	return a;
}

std::string render(const Announcement& a)
{
	// The format's conversions, in order, from the announcement's fields.
	std::string o = "tracing_mark_write: " + std::string(OP_PREFIX) + std::string(op_name(a.op));
	Words format(op_format(a.op));
	format.next();
	for (std::string_view label = format.next(); !label.empty(); label = format.next()) {
		const std::string_view conv = format.next();
		o += " " + std::string(label) + " ";
		if (label == "dirty_mode")
			o += DIRTY_MODES[static_cast<std::size_t>(a.mode)];
		else if (label == "how")
			o += UNMAP_HOWS[static_cast<std::size_t>(a.how)];
		else {
			const u64 v = label == "vm"	   ? a.vm
				      : label == "as"	   ? a.as_id
				      : label == "slot"	   ? a.slot
				      : label == "gfn"	   ? a.gfn
				      : label == "old_gfn"   ? a.old_gfn
				      : label == "pages"	   ? a.pages
				      : label == "flags"	   ? a.flags
				      : label == "old_flags" ? a.old_flags
							     : a.hva;
			o += conv == "%x" || conv == "%llx" ? hex_digits(v) : std::to_string(v);
		}
	}
	return o;
}

// ---- rendering ----------------------------------------------------------------

std::string render(const SpteChanged& e)
{
	return format_event(EventId::tdp_mmu_spte_changed, {e.as_id, e.gfn, e.level, e.old_spte, e.new_spte});
}

std::string render(const SpteRequested& e)
{
	return format_event(EventId::mmu_spte_requested, {e.gfn, e.pfn, e.level});
}

std::string render(const SplitHugePage& e)
{
	return format_event(EventId::mmu_split_huge_page, {e.gfn, e.spte, e.level, e.err});
}

std::string render(const MmuPage& p)
{
	const bool get = p.created != MmuPage::Created::unknown;
	std::string o = std::string(event_name(get ? EventId::mmu_get_page : EventId::mmu_prepare_zap_page)) + ": ";
	o += "sp gen " + std::to_string(p.gen) + " gfn " + hex_digits(p.gfn) + " l" + std::to_string(p.level) + " " +
	     std::to_string(p.gpte_bytes) + "-byte q" + std::to_string(p.quadrant) + (p.direct ? " direct " : " ") +
	     std::string(p.access) + (p.invalid ? " invalid " : " ") + (p.efer_nx ? "" : "!") + "nxe " +
	     (p.ad_disabled ? "!" : "") + "ad root " + std::to_string(p.root_count) + (p.unsync ? " unsync" : " sync");
	if (get)
		o += p.created == MmuPage::Created::created ? " new" : " existing";
	return o;
}

std::string render(const TdParams& p)
{
	return format_event(EventId::tdx_td_params, {p.tdr, p.pwl, p.phys_bits});
}

std::string render(const Seamcall& c)
{
	return format_event(EventId::tdx_seamcall, {tdx_leaf_name(c.leaf), c.rcx, c.rdx, c.r8, c.r9, c.status, c.out_rcx,
						    c.out_rdx, c.out_r8});
}

std::string render(const VcpuRun& r, bool exit)
{
	return exit ? format_event(EventId::tdx_vcpu_exit, {r.tdvpr, r.status})
		    : format_event(EventId::tdx_vcpu_enter, {r.tdvpr});
}

std::string render(const HookCall& h, bool exit)
{
	return exit ? format_event(EventId::tdx_hook_exit, {hook_name(h.hook), h.gfn, h.level, h.ret})
		    : format_event(EventId::tdx_hook_enter, {hook_name(h.hook), h.gfn, h.level, h.arg});
}

double timestamp_seconds(std::string_view ts)
{
	// Parsed by hand: it is on every event's hot path.
	const std::size_t dot = ts.find('.');
	if (dot == std::string_view::npos || dot == 0)
		return -1; // a counter clock (counter, x86-tsc): no unit to compare
	double sec = 0, frac = 0, scale = 1;
	for (std::size_t i = 0; i < dot; i++) {
		if (ts[i] < '0' || ts[i] > '9')
			return -1;
		sec = sec * 10 + (ts[i] - '0');
	}
	for (std::size_t i = dot + 1; i < ts.size() && i < dot + 10; i++) {
		if (ts[i] < '0' || ts[i] > '9')
			return -1;
		frac = frac * 10 + (ts[i] - '0');
		scale *= 10;
	}
	return sec + frac / scale;
}

} // namespace arborist::conform
