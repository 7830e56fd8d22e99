// SPDX-License-Identifier: GPL-2.0-only
//
// A long consistent trace for the benchmark: the real trace's workload
// (tests/data/linux-6.1-npt/trace.txt, three VMs created and destroyed)
// replayed over and over, repetition k with shifted addresses so that no
// two repetitions touch the same keys:
//   - every GFN (and guest physical address) moves by (k mod 512) << 27,
//     i.e. to another level-4 entry, which keeps every level's alignment;
//   - every PFN (in SPTE values, table addresses "at", the direct-map
//     pointers sptep) moves by (k mod 1024) << 18, a 1 GiB-aligned offset,
//     so huge-page PFNs stay aligned and make_small_spte() children follow;
//   - non-present and frozen values (0, 5a0) and KVM_PFN_NOSLOT stay;
//   - timestamps move by 2 s per repetition.
// The shift is a function of the value, so every relation the checker
// relies on (old_spte = last new_spte, child = huge + i, fixes, MMIO
// values) is preserved.  Text is produced on demand, a batch of lines at a
// time: memory does not grow with the length.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ftrace.hpp"

namespace arborist::conform {

class ShiftedReplay final : public ByteSource {
public:
	// Whole repetitions of template_text, at least min_lines in all; the
	// header ('#' lines) only once, at the start.
	ShiftedReplay(std::string_view template_text, u64 min_lines);

	std::size_t read(char* buf, std::size_t cap) override;
	const std::string& name() const override { return name_; }

	u64 lines() const { return header_lines_ + repetitions_ * events_.size(); }
	u64 repetitions() const { return repetitions_; }

	// How a number in a payload moves.
	enum class Shift : std::uint8_t { gfn, gpa, spte, spte_0x, pfn, phys };

	struct Field {
		std::string before; // literal text up to the number
		Shift shift;
		u64 value;
	};

	struct EventLine {
		std::string prefix;  // "comm-pid [cpu] flags " up to the timestamp
		u64 seconds = 0;     // the timestamp's integer part ...
		std::string rest;    // ... and ".usec: event: " up to the payload
		std::vector<Field> fields;
		std::string tail;    // literal text after the last number
	};

private:
	std::string name_ = "<replay>";
	void render_line(const EventLine& e, u64 k);
	void render_batch();

	std::string header_;
	std::vector<EventLine> events_;
	u64 header_lines_ = 0;
	u64 repetitions_ = 0;
	u64 rep_ = 0;
	std::size_t next_ = 0;
	bool header_done_ = false;
	std::string out_;
	std::size_t out_pos_ = 0;
};

} // namespace arborist::conform
