// SPDX-License-Identifier: GPL-2.0-only
//
// check_trace(): inputs, their merge, profile inference and the replay
// (check.hpp).
#include "check.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "infer.hpp"

namespace arborist::conform {

namespace {

constexpr std::size_t INFERENCE_WINDOW = std::size_t{1} << 16; // lines held before the inference settles

// The order of a timestamp among those of one clock: seconds, or the raw
// count of a clock without a decimal point.
double timestamp_order(std::string_view ts)
{
	const double s = timestamp_seconds(ts);
	if (s >= 0)
		return s;
	double v = 0;
	for (const char c : ts) {
		if (c < '0' || c > '9')
			return 0;
		v = v * 10 + (c - '0');
	}
	return v;
}

class Runner {
public:
	Runner(std::vector<TraceInput>& inputs, const CheckOptions& o, CheckObserver& obs)
		: inputs_(inputs), opts_(o), obs_(obs), merged_(inputs.size() > 1)
	{
	}

	// One line read from input `in` at line `line`.
	void feed(const TraceLine& tl, std::size_t in, u64 line)
	{
		const Where real{inputs_[in].name, line};
		obs_.line(tl, real);
		const u64 ordinal = ++ordinal_;
		if (merged_ && (runs_.empty() || runs_.back().input != in || runs_.back().line + (ordinal - runs_.back().ordinal) != line))
			runs_.push_back(Run{ordinal, in, line});
		const Where w{real.file, merged_ ? ordinal : line};
		if (checker_)
			feed_checker(tl, w);
		else
			hold(tl, w);
	}

	CheckOutcome finish()
	{
		if (!checker_) {
			inference_.settle("at the end of the trace");
			start(inference_.profile(), inference_.how());
		}
		translating([&] { checker_->finish(); });
		CheckOutcome out;
		out.profile = &checker_->profile();
		out.how = how_;
		out.ambiguous = !opts_.profile && inference_.ambiguous();
		out.stats = checker_->stats();
		return out;
	}

private:
	struct Run {
		u64 ordinal;
		std::size_t input;
		u64 line;
	};

	// The file and line of a line number the checker saw (the ordinal of
	// the line in the merged trace when there are several inputs).
	std::pair<std::string_view, u64> locate(u64 n) const
	{
		if (!merged_ || runs_.empty())
			return {inputs_.front().name, n};
		auto it = std::upper_bound(runs_.begin(), runs_.end(), n, [](u64 v, const Run& r) { return v < r.ordinal; });
		if (it == runs_.begin())
			return {inputs_.front().name, n};
		--it;
		return {inputs_[it->input].name, it->line + (n - it->ordinal)};
	}

	template <class F>
	void translating(F&& f)
	{
		try {
			f();
		} catch (const ParseError& e) {
			if (!merged_)
				throw;
			const auto [file, line] = locate(e.line());
			throw ParseError(Where{file, line}, e.field(), e.detail());
		}
	}

	void feed_checker(const TraceLine& tl, const Where& w)
	{
		translating([&] { checker_->feed(tl, w); });
	}

	// Before the profile is known, lines are kept (up to a window).
	void hold(const TraceLine& tl, const Where& w)
	{
		held_.push_back(Held{w.file, w.line, std::string(tl.text)});
		if (opts_.profile) {
			start(*opts_.profile, "--profile");
			return;
		}
		bool decided = false;
		translating([&] { decided = inference_.observe(tl, w); });
		if (!decided && held_.size() >= INFERENCE_WINDOW)
			inference_.settle("after the first " + std::to_string(INFERENCE_WINDOW) + " lines");
		if (inference_.decided())
			start(inference_.profile(), inference_.how());
	}

	void start(const Profile& p, const std::string& how)
	{
		how_ = how;
		checker_ = std::make_unique<Checker>(p, opts_.partial, [this](Violation&& v) {
			const auto [file, line] = locate(v.line);
			v.file = std::string(file);
			v.line = line;
			for (HistoryEntry& h : v.history) {
				const auto [hf, hl] = locate(h.line);
				h.file = std::string(hf);
				h.line = hl;
			}
			obs_.violation(v);
		});
		checker_->set_window(opts_.window_lines, opts_.window_us);
		obs_.profile(p, how);
		std::vector<Held> held = std::move(held_);
		held_.clear();
		for (const Held& h : held) {
			const Where w{h.file, h.line};
			feed_checker(parse_trace_line(h.text, w), w);
		}
	}

	struct Held {
		std::string_view file;
		u64 line;
		std::string text;
	};

	std::vector<TraceInput>& inputs_;
	const CheckOptions& opts_;
	CheckObserver& obs_;
	const bool merged_;
	u64 ordinal_ = 0;
	std::vector<Run> runs_;
	std::unique_ptr<Checker> checker_;
	ProfileInference inference_;
	std::string how_;
	std::vector<Held> held_;
};

// One input of a merge: its reader and the line it offers next.
struct Source {
	std::size_t index;
	LineReader reader;
	std::optional<std::string_view> text;
	TraceLine tl;
	double order = 0;

	Source(std::size_t i, ByteSource& src) : index(i), reader(trace_reader(src)) {}

	void next(std::string_view name)
	{
		text = reader.next();
		if (!text)
			return;
		tl = parse_trace_line(*text, Where{name, reader.line_number()});
		order = tl.kind == LineKind::event ? timestamp_order(tl.timestamp) : 0;
	}
};

bool is_tdx_event(EventId id) { return id >= EventId::tdx_td_params && id <= EventId::tdx_hook_exit; }

// Two inputs' events of one CPU with one timestamp: ftrace's trace file and
// bpftrace both print microseconds, and a SEAMCALL, its hook and the SPTE
// change around it often fall in one.  Their order is then the kernel's
// (Linux v6.19 arch/x86/kvm/mmu/tdp_mmu.c), not the order the files were
// named in:
// - an open hook's SEAMCALLs and exit come before anything else of its CPU
//   (the hook runs to its end before the MMU code goes on; the merge loop
//   checks this one, for the TDX input's lines of any CPU at that timestamp);
// - link_external_spt / set_external_spte come before the install they make
//   (set_external_spte_present() calls the hook, then writes and traces the
//   mirror SPTE), and after the MMU events that led to it (get_page,
//   spte_requested);
// - remove_external_spte, free_external_spt and split_external_spt come
//   after the change that owes them (tdp_mmu_set_spte() and
//   handle_removed_pt() trace, then call the hook; seed 001's split hook
//   follows handle_changed_spte());
// - a TD exit comes before what KVM then does on that CPU (the fault it
//   handles), a TD entry after what KVM did before it.
// What the merge has emitted of one CPU so far.
struct CpuMerged {
	bool hook_open = false;
	// The last link/set hook that returned and whose install has not
	// been emitted yet, and the last SPTE change: (gfn, level).
	std::optional<std::pair<u64, u32>> hook_done, last_change;
};

// True: the TDX line first; false: the MMU line first; nullopt: no rule,
// the file named first.
std::optional<bool> tdx_line_first(const TraceLine& tdx, EventId tdx_id, const Where& tw, const TraceLine& mmu,
				   EventId mmu_id, const Where& mw, const CpuMerged& cpu)
{
	if (mmu_id == EventId::tdp_mmu_spte_changed) {
		// An install waits for the hook that makes it, if that is still
		// in the TDX input (after SEAMCALLs of this CPU outside hooks,
		// TDH.MR.EXTEND say).
		const SpteChanged c = decode_spte_changed(mmu.payload, mw);
		// SPTE_MMU_PRESENT_MASK (bit 11) of the TDX profile's flavour.
		const u64 present = spec::ept_v6_19.mmu_present;
		const bool install = !(c.old_spte & present) && (c.new_spte & present);
		if (install && cpu.hook_done != std::pair{c.gfn, c.level})
			return true;
	}
	switch (tdx_id) {
	case EventId::tdx_hook_enter: {
		const HookCall h = decode_hook(tdx.payload, tw, false);
		if (h.hook == TdxHook::link_external_spt || h.hook == TdxHook::set_external_spte)
			return false; // the MMU lines before the install (get_page, spte_requested)
		if (h.hook == TdxHook::free_external_spt)
			return false;
		// remove/split: right after the change that owes them.
		return cpu.last_change == std::pair{h.gfn, h.level};
	}
	case EventId::tdx_vcpu_exit: return true;
	case EventId::tdx_vcpu_enter: return false;
	default: return std::nullopt;
	}
}

} // namespace

TraceInput open_input(const std::string& file)
{
	return TraceInput{file, std::make_unique<FileSource>(file)};
}

CheckOutcome check_trace(std::vector<TraceInput>& inputs, const CheckOptions& options, CheckObserver& observer)
{
	if (inputs.empty())
		throw std::runtime_error("no trace input");
	Runner run(inputs, options, observer);
	if (inputs.size() == 1) {
		LineReader reader = trace_reader(*inputs.front().source);
		while (const std::optional<std::string_view> text = reader.next()) {
			const Where w{inputs.front().name, reader.line_number()};
			run.feed(parse_trace_line(*text, w), 0, w.line);
		}
		return run.finish();
	}
	std::vector<std::unique_ptr<Source>> sources;
	for (std::size_t i = 0; i < inputs.size(); i++) {
		sources.push_back(std::make_unique<Source>(i, *inputs[i].source));
		sources.back()->next(inputs[i].name);
	}
	std::vector<CpuMerged> merged; // per CPU, in the merged order so far
	auto of = [&](u32 cpu) -> CpuMerged& {
		if (cpu >= merged.size())
			merged.resize(cpu + 1);
		return merged[cpu];
	};
	// s before pick: an earlier timestamp, or the same one with a TDX line
	// and an MMU line whose kernel order says so.
	auto before = [&](const Source& s, const Source& pick) {
		if (s.order != pick.order)
			return s.order < pick.order;
		const EventId a = classify_event(s.tl.event), b = classify_event(pick.tl.event);
		if (is_tdx_event(a) == is_tdx_event(b))
			return false;
		const Source& t = is_tdx_event(a) ? s : pick;
		const Source& m = is_tdx_event(a) ? pick : s;
		// The MMU line's CPU is inside a hook: the hook's exit is in the
		// TDX input, at this timestamp at the latest, maybe behind another
		// CPU's lines there.
		if (of(m.tl.cpu).hook_open)
			return &t == &s;
		const std::optional<bool> first = tdx_line_first(
			t.tl, is_tdx_event(a) ? a : b, Where{inputs[t.index].name, t.reader.line_number()}, m.tl,
			is_tdx_event(a) ? b : a, Where{inputs[m.index].name, m.reader.line_number()}, of(m.tl.cpu));
		if (s.tl.cpu != pick.tl.cpu && !(first && *first && classify_event(m.tl.event) == EventId::tdp_mmu_spte_changed))
			return false;
		return first && *first == (&t == &s);
	};
	for (;;) {
		// Lines that are not events (headers, loss markers) go first, in
		// input order; then the earliest timestamp, on a tie the kernel's
		// order (above), else the first input.
		Source* pick = nullptr;
		for (const auto& s : sources) {
			if (!s->text)
				continue;
			if (s->tl.kind != LineKind::event) {
				pick = s.get();
				break;
			}
			if (!pick || before(*s, *pick))
				pick = s.get();
		}
		if (!pick)
			break;
		if (pick->tl.kind == LineKind::event) {
			CpuMerged& c = of(pick->tl.cpu);
			const Where w{inputs[pick->index].name, pick->reader.line_number()};
			switch (classify_event(pick->tl.event)) {
			case EventId::tdx_hook_enter: c.hook_open = true; break;
			case EventId::tdx_hook_exit: {
				c.hook_open = false;
				const HookCall h = decode_hook(pick->tl.payload, w, true);
				if (h.ret == 0 && (h.hook == TdxHook::link_external_spt || h.hook == TdxHook::set_external_spte))
					c.hook_done = std::pair{h.gfn, h.level};
				break;
			}
			case EventId::tdp_mmu_spte_changed: {
				const SpteChanged sc = decode_spte_changed(pick->tl.payload, w);
				c.last_change = std::pair{sc.gfn, sc.level};
				if (c.hook_done == c.last_change)
					c.hook_done.reset();
				break;
			}
			default: break;
			}
		}
		run.feed(pick->tl, pick->index, pick->reader.line_number());
		pick->next(inputs[pick->index].name);
	}
	return run.finish();
}

} // namespace arborist::conform
