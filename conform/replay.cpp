// SPDX-License-Identifier: GPL-2.0-only
//
// The shifted replay of a trace (replay.hpp).
#include "replay.hpp"

#include <cstring>
#include <utility>

#include "arborist/support/hex.hpp"
#include "arborist/spte.hpp"
#include "profile.hpp"

namespace arborist::conform {

namespace {

using Shift = ShiftedReplay::Shift;

constexpr u64 GFN_STEP_SHIFT = 27;  // one level-4 entry: KVM_PAGES_PER_HPAGE(4)
constexpr u64 GFN_STEPS = 512;      // the entries of a 4-level root
constexpr u64 PFN_STEP_SHIFT = 18;  // 1 GiB of frames
constexpr u64 PFN_STEPS = 1024;
constexpr u64 SECONDS_PER_REPETITION = 2;
constexpr std::size_t BATCH_BYTES = std::size_t{1} << 20;

// The numbers to move in each event's payload: (token index, how).
struct FieldSpec {
	std::size_t token;
	Shift shift;
};

std::vector<FieldSpec> fields_of(std::string_view event)
{
	switch (classify_event(event)) {
	case EventId::tdp_mmu_spte_changed:
		return {{4, Shift::gfn}, {8, Shift::spte}, {10, Shift::spte}};
	case EventId::mmu_get_page:
	case EventId::mmu_prepare_zap_page:
		return {{4, Shift::gfn}};
	case EventId::mmu_split_huge_page:
		return {{1, Shift::gfn}, {3, Shift::spte}};
	case EventId::mmu_set_spte:
		return {{1, Shift::gfn}, {3, Shift::spte}, {8, Shift::phys}};
	case EventId::mmu_spte_requested:
		return {{1, Shift::gfn}, {3, Shift::pfn}};
	case EventId::fast_page_fault:
		return {{3, Shift::gpa}, {7, Shift::phys}, {9, Shift::spte_0x}, {11, Shift::spte}};
	case EventId::mark_mmio_spte:
		return {{0, Shift::phys}, {2, Shift::gfn}};
	default:
		break;
	}
	if (event == "check_mmio_spte")
		return {{1, Shift::spte}};
	if (event == "handle_mmio_page_fault")
		return {{2, Shift::gfn}};
	return {};
}

u64 parse_hex(std::string_view t)
{
	if (t.starts_with("0x"))
		t.remove_prefix(2);
	u64 v = 0;
	for (char c : t)
		v = (v << 4) | static_cast<u64>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
	return v;
}

// Splits the payload into literal text and the numbers to move.
void template_payload(std::string_view payload, std::string_view event, ShiftedReplay::EventLine& e)
{
	const std::vector<FieldSpec> specs = fields_of(event);
	std::size_t token = 0, pos = 0, literal = 0;
	for (const FieldSpec& s : specs) {
		while (pos < payload.size() && token < s.token) {
			pos = payload.find(' ', pos);
			pos = pos == std::string_view::npos ? payload.size() : pos + 1;
			token++;
		}
		std::size_t end = payload.find(' ', pos);
		end = end == std::string_view::npos ? payload.size() : end;
		std::size_t num = pos;
		if (const std::size_t colon = payload.substr(pos, end - pos).find(':'); colon != std::string_view::npos)
			num = pos + colon + 1; // "sptep:ffff..."
		e.fields.push_back({std::string(payload.substr(literal, num - literal)), s.shift,
				    parse_hex(payload.substr(num, end - num))});
		literal = end;
	}
	e.tail = std::string(payload.substr(literal));
}

void append_dec(std::string& o, u64 v)
{
	char buf[24];
	int n = 0;
	do {
		buf[n++] = static_cast<char>('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		o += buf[--n];
}

// A non-present or frozen value of any SPTE flavour: it stays.
bool special_value(u64 v)
{
	for (const spec::SpteFlavor& fl : spec::spte_flavors)
		if (v == fl.nonpresent_value || v == fl.frozen)
			return true;
	return false;
}

u64 shifted(Shift s, u64 v, u64 gfn_delta, u64 pfn_delta)
{
	const spec::SpteFlavor& f = linux_6_1_npt.flavor;
	switch (s) {
	case Shift::gfn:
		return v + gfn_delta;
	case Shift::gpa:
		return v + (gfn_delta << spec::PAGE_SHIFT);
	case Shift::spte:
	case Shift::spte_0x:
		return special_value(v) ? v : v + (pfn_delta << spec::PAGE_SHIFT);
	case Shift::pfn:
		return (v & ~(f.pfn_mask >> spec::PAGE_SHIFT)) ? v : v + pfn_delta; // KVM_PFN_NOSLOT stays
	case Shift::phys:
		return v + (pfn_delta << spec::PAGE_SHIFT);
	}
	return v;
}

} // namespace

ShiftedReplay::ShiftedReplay(std::string_view text, u64 min_lines)
{
	const Where w{"<replay template>", 0};
	for (std::size_t pos = 0; pos < text.size();) {
		std::size_t nl = text.find('\n', pos);
		nl = nl == std::string_view::npos ? text.size() : nl;
		const std::string_view line = text.substr(pos, nl - pos);
		pos = nl + 1;
		const TraceLine tl = parse_trace_line(line, w);
		if (tl.kind != LineKind::event) {
			if (events_.empty()) {
				header_ += std::string(line) + "\n";
				header_lines_++;
			}
			continue;
		}
		EventLine e;
		const std::size_t ts = static_cast<std::size_t>(tl.timestamp.data() - line.data());
		const std::size_t dot = tl.timestamp.find('.');
		e.prefix = std::string(line.substr(0, ts));
		for (char c : tl.timestamp.substr(0, dot))
			e.seconds = e.seconds * 10 + static_cast<u64>(c - '0');
		const std::size_t payload = static_cast<std::size_t>(tl.payload.data() - line.data());
		const std::size_t rest = ts + (dot == std::string_view::npos ? tl.timestamp.size() : dot);
		e.rest = std::string(line.substr(rest, payload - rest));
		template_payload(tl.payload, tl.event, e);
		events_.push_back(std::move(e));
	}
	const u64 per = events_.size();
	repetitions_ = per == 0 ? 0 : (min_lines > header_lines_ ? (min_lines - header_lines_ + per - 1) / per : 1);
}

void ShiftedReplay::render_line(const EventLine& e, u64 k)
{
	const u64 gfn_delta = (k % GFN_STEPS) << GFN_STEP_SHIFT;
	const u64 pfn_delta = (k % PFN_STEPS) << PFN_STEP_SHIFT;
	out_ += e.prefix;
	append_dec(out_, e.seconds + k * SECONDS_PER_REPETITION);
	out_ += e.rest;
	for (const Field& f : e.fields) {
		out_ += f.before;
		const u64 v = shifted(f.shift, f.value, gfn_delta, pfn_delta);
		if (f.shift == Shift::spte_0x && v != 0)
			out_ += "0x";
		support::append_hex_digits(out_, v);
	}
	out_ += e.tail;
	out_ += '\n';
}

void ShiftedReplay::render_batch()
{
	if (!header_done_) {
		out_ += header_;
		header_done_ = true;
	}
	while (out_.size() < BATCH_BYTES && rep_ < repetitions_) {
		render_line(events_[next_], rep_);
		if (++next_ == events_.size()) {
			next_ = 0;
			rep_++;
		}
	}
}

std::size_t ShiftedReplay::read(char* buf, std::size_t cap)
{
	if (out_pos_ == out_.size()) {
		out_.clear();
		out_pos_ = 0;
		render_batch();
	}
	const std::size_t n = std::min(cap, out_.size() - out_pos_);
	std::memcpy(buf, out_.data() + out_pos_, n);
	out_pos_ += n;
	return n;
}

} // namespace arborist::conform
