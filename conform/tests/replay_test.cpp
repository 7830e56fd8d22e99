// SPDX-License-Identifier: GPL-2.0-only
//
// The benchmark's generator: repetition 0 is the real trace itself, later
// repetitions are shifted copies, and the whole replay is consistent.
#include <gtest/gtest.h>

#include "conform/replay.hpp"
#include "trace_fixture.hpp"

namespace arborist::conform::test {
namespace {

std::string drain(ByteSource& src)
{
	std::string s;
	char buf[4096];
	while (const std::size_t n = src.read(buf, sizeof(buf)))
		s.append(buf, n);
	return s;
}

TEST(ShiftedReplay, FirstRepetitionIsTheTraceItself)
{
	const std::string real = read_file(REAL_TRACE);
	ShiftedReplay gen(real, 1);
	EXPECT_EQ(gen.repetitions(), 1u);
	EXPECT_EQ(drain(gen), real);
}

TEST(ShiftedReplay, LaterRepetitionsMoveGfnsAndPfns)
{
	ShiftedReplay gen(read_file(REAL_TRACE), 12 + 3 * 21422); // 12 header lines, 21422 events
	EXPECT_EQ(gen.repetitions(), 3u);
	EXPECT_EQ(gen.lines(), 12u + 3 * (21434 - 12));
	const std::string text = drain(gen);
	// Repetition 1: GFNs + 1 << 27 (level-4 entry 1), PFNs + 1 << 18.
	EXPECT_NE(text.find("kvm_tdp_mmu_spte_changed: as id 0 gfn 8000000 level 4 old_spte 0 new_spte 42c53827"),
		  std::string::npos);
	EXPECT_NE(text.find("kvm_mmu_set_spte: gfn 8000001 spte 4bfede67 (rwxu) level 1 at 42c55008"), std::string::npos);
	EXPECT_NE(text.find("kvm_mmu_spte_requested: gfn 80d0000 pfn 8000000000000000 level 1"), std::string::npos);
	EXPECT_NE(text.find("old 0x47200e65 new 47200e67 spurious 0 fixed 1"), std::string::npos);
	EXPECT_NE(text.find("old_spte 42c49827 new_spte 5a0"), std::string::npos); // REMOVED_SPTE stays
}

TEST(ShiftedReplay, IsConsistent)
{
	ShiftedReplay gen(read_file(REAL_TRACE), 12 + 4 * 21422);
	const CheckResult r = check_text(drain(gen));
	EXPECT_TRUE(r.violations.empty()) << kinds(r);
	EXPECT_EQ(r.stats.lines, gen.lines());
	EXPECT_EQ(r.stats.fast_fixes, 4u * 280);
	EXPECT_LE(r.stats.max_live_tables, 9u);
}

} // namespace
} // namespace arborist::conform::test
