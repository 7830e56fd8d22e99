// SPDX-License-Identifier: GPL-2.0-only
//
// TDX traces (profile linux-6.19-tdx): the generated trace of each TD
// scenario (tests/data/tdx, `arborist run --trace`) replays with no
// violation; edits that reproduce known bug classes (docs/sources.md,
// "Upstream commits", and docs/conformance.md) (a REMOVE without
// TRACK, a SEPT.REMOVE with a child left, an AUG after KEY.FREEID, a vCPU
// still in the guest across TRACK, a reused page, a changed status, a
// mirror SPTE that disagrees, a split without DEMOTE, ...) are reported with
// their kind at their line; the TDX event payloads are parsed field by field.
#include <gtest/gtest.h>

#include <algorithm>
#include <ctime>

#include "conform/tdx.hpp"
#include "trace_fixture.hpp"

namespace arborist::conform::test {

using support::hex_digits;
namespace {

const std::string TDX_DATA = ARBORIST_TEST_DATA "/tdx/";

std::vector<std::string> lines_of(const std::string& name)
{
	std::vector<std::string> v;
	std::istringstream in(read_file(TDX_DATA + name + ".trace"));
	for (std::string l; std::getline(in, l);)
		v.push_back(l);
	EXPECT_FALSE(v.empty()) << name;
	return v;
}

CheckResult check_tdx(const std::vector<std::string>& lines)
{
	return check_text(join(lines), linux_6_19_tdx);
}

// Some violation of `kind` at `line`, and every violation of that kind or
// an earlier line is of the expected kind (no false alarm before the edit).
void expect_at(const CheckResult& r, std::string_view kind, std::size_t line)
{
	ASSERT_FALSE(r.violations.empty()) << "no violation; expected " << kind << " at line " << line;
	bool found = false;
	for (const Violation& v : r.violations) {
		if (v.kind == kind && v.line == line) {
			found = true;
			EXPECT_FALSE(v.rule.empty());
			EXPECT_FALSE(v.source.empty());
			EXPECT_FALSE(v.message.empty());
		}
		EXPECT_GE(v.line, line) << "a violation before the edit: " << kinds(r);
	}
	EXPECT_TRUE(found) << "expected " << kind << " at line " << line << "; got " << kinds(r);
	EXPECT_EQ(r.violations.front().line, line) << kinds(r);
}

// The n-th (1-based) line containing `what`.
std::size_t nth(const std::vector<std::string>& lines, std::string_view what, int n = 1)
{
	std::size_t at = 0;
	for (int i = 0; i < n; i++) {
		at = find_line(lines, what, at + 1);
		EXPECT_NE(at, 0u) << what;
		if (!at)
			return 0;
	}
	return at;
}

void erase(std::vector<std::string>& lines, std::size_t n) { lines.erase(lines.begin() + static_cast<long>(n - 1)); }

void move_after(std::vector<std::string>& lines, std::size_t from, std::size_t after)
{
	const std::string l = lines[from - 1];
	lines.insert(lines.begin() + static_cast<long>(after), l);
	lines.erase(lines.begin() + static_cast<long>(from - 1 + (from > after ? 1 : 0)));
}

// A line like the one at `like`, with another payload.
std::string with_payload(const std::vector<std::string>& lines, std::size_t like, const std::string& payload)
{
	const std::string& l = lines[like - 1];
	const std::size_t colon = l.find(": tdx_");
	return l.substr(0, colon + 2) + payload;
}

// ---- accepted ------------------------------------------------------------------------

class Accepted : public ::testing::TestWithParam<const char*> {};

TEST_P(Accepted, NoViolation)
{
	const CheckResult r = check_tdx(lines_of(GetParam()));
	EXPECT_TRUE(r.violations.empty()) << kinds(r);
	if (std::string(GetParam()) != "direct-invalidate-zap") {
		EXPECT_GT(r.stats.seamcalls_replayed, 10u);
		EXPECT_EQ(r.stats.tds, 1u);
		EXPECT_GT(r.stats.mirror_checks, 0u);
	}
}

INSTANTIATE_TEST_SUITE_P(Scenarios, Accepted,
			 ::testing::Values("td-deferred-teardown", "td-huge-split", "td-private-shared", "td-teardown",
					   "td-zap-and-busy", "direct-invalidate-zap"));

// A measured build (Linux v6.19 tdx_gmem_post_populate(): PAGE.ADD, then
// with KVM_TDX_MEASURE_MEMORY_REGION a TDH.MR.EXTEND of each 256-byte chunk,
// tdh_mr_extend(td, gpa + i, ...): RCX the chunk's GPA, RDX the TDR).
std::vector<std::string> measured_build(std::vector<std::string> t, std::size_t* first_extend = nullptr)
{
	const std::size_t add = nth(t, "leaf TDH.MEM.PAGE.ADD rcx 1000 ");
	const std::size_t install = find_line(t, "kvm_tdp_mmu_spte_changed: as id 0 gfn 1 level 1", add);
	for (unsigned i = 0; i < 16; i++)
		t.insert(t.begin() + static_cast<long>(install + i),
			 with_payload(t, add,
				      "tdx_seamcall: leaf TDH.MR.EXTEND rcx " + hex_digits(0x1000 + i * 0x100) +
					      " rdx 100000000 r8 0 r9 0 status 0 out_rcx 0 out_rdx 0 out_r8 0"));
	if (first_extend)
		*first_extend = install + 1;
	return t;
}

TEST(Measured, BuildIsAccepted)
{
	const CheckResult r = check_tdx(measured_build(lines_of("td-teardown")));
	EXPECT_TRUE(r.violations.empty()) << kinds(r) << (r.violations.empty() ? "" : r.violations.front().message);
	EXPECT_EQ(r.stats.seamcalls_replayed, check_tdx(lines_of("td-teardown")).stats.seamcalls_replayed + 16);
}

// ---- rejected: one edit each -----------------------------------------------------------

TEST(Mutation, MrExtendOfAPageNotAdded)
{
	// The chunk at 0x2000: no PAGE.ADD mapped it, so the walk to the leaf
	// fails (TDX_EPT_ENTRY_NOT_PRESENT|RCX, tdh_mr_extend.c).
	std::size_t first = 0;
	auto t = measured_build(lines_of("td-teardown"), &first);
	edit(t, first + 3, "rcx 1300 ", "rcx 2300 ");
	const CheckResult r = check_tdx(t);
	expect_at(r, "sept.status-mismatch", first + 3);
	ASSERT_FALSE(r.violations.empty());
	EXPECT_NE(r.violations.front().message.find("TDX_EPT_ENTRY_NOT_PRESENT|RCX (0xc0000b0300000001)"), std::string::npos)
		<< r.violations.front().message;
}

TEST(Mutation, MrExtendAfterFinalize)
{
	// TDH.MR.EXTEND runs only while OP_STATE is INITIALIZED (tdh_mr_extend.c
	// check_state_map_tdcs_and_lock()): after MR.FINALIZE it is refused.
	auto t = lines_of("td-teardown");
	const std::size_t fin = nth(t, "leaf TDH.MR.FINALIZE");
	t.insert(t.begin() + static_cast<long>(fin),
		 with_payload(t, fin,
			      "tdx_seamcall: leaf TDH.MR.EXTEND rcx 1000 rdx 100000000 r8 0 r9 0 status 0 out_rcx 0 "
			      "out_rdx 0 out_r8 0"));
	expect_at(check_tdx(t), "td.lifecycle", fin + 1);
}

TEST(Mutation, RemoveWithoutTrack)
{
	auto t = lines_of("td-teardown");
	const std::size_t track = nth(t, "leaf TDH.MEM.TRACK");
	const std::size_t remove = nth(t, "leaf TDH.MEM.PAGE.REMOVE");
	ASSERT_LT(track, remove);
	erase(t, track);
	const CheckResult r = check_tdx(t);
	expect_at(r, "sept.tlb-not-tracked", remove - 1);
	// The earlier events on the entry: the hook that zaps it and its BLOCK.
	ASSERT_FALSE(r.violations.empty());
	const std::vector<HistoryEntry>& h = r.violations.front().history;
	ASSERT_GE(h.size(), 2u) << kinds(r);
	ASSERT_LE(h.size(), 8u);
	EXPECT_NE(h[h.size() - 2].event.find("tdx_hook_enter: hook remove_external_spte gfn 1 "), std::string::npos);
	EXPECT_NE(h.back().event.find("TDH.MEM.RANGE.BLOCK rcx 1000 "), std::string::npos);
	EXPECT_NE(h.front().event.find("gfn 1 "), std::string::npos); // the install's hook
}

TEST(Mutation, RemoveWithoutBlock)
{
	auto t = lines_of("td-teardown");
	const std::size_t block = nth(t, "leaf TDH.MEM.RANGE.BLOCK");
	const std::size_t remove = nth(t, "leaf TDH.MEM.PAGE.REMOVE");
	erase(t, block);
	expect_at(check_tdx(t), "sept.not-blocked", remove - 1);
}

TEST(Mutation, VcpuInGuestAcrossTrack)
{
	// td-zap-and-busy: both vCPUs run while the BLOCK of gfn 7 contends;
	// the kick makes them exit before TRACK.  Keep the first one in the
	// guest until after the REMOVE.
	auto t = lines_of("td-zap-and-busy");
	const std::size_t exit = nth(t, "tdx_vcpu_exit");
	const std::size_t remove = nth(t, "leaf TDH.MEM.PAGE.REMOVE");
	ASSERT_LT(exit, nth(t, "leaf TDH.MEM.TRACK"));
	move_after(t, exit, remove);
	expect_at(check_tdx(t), "sept.tlb-not-tracked", remove - 1);
}

TEST(Mutation, AugAfterKeyFreeid)
{
	auto t = lines_of("td-teardown");
	const std::size_t freeid = nth(t, "leaf TDH.MNG.KEY.FREEID");
	// gfn 10 was REMOVEd before the HKID went; its S-EPT entry is FREE.
	t.insert(t.begin() + static_cast<long>(freeid),
		 with_payload(t, freeid,
			      "tdx_seamcall: leaf TDH.MEM.PAGE.AUG rcx 10000 rdx 100000000 r8 10000c000 r9 0 status 0 "
			      "out_rcx 0 out_rdx 0 out_r8 0"));
	expect_at(check_tdx(t), "td.lifecycle", freeid + 1);
}

TEST(Mutation, SeptRemoveWithAChildLeft)
{
	// Inside the removal of gfn 1 (so the S-EPT may change): BLOCK the 2M
	// non-leaf entry over gfn 0-1ff, TRACK, and SEPT.REMOVE it while gfn
	// 10, 11 are still mapped.
	auto t = lines_of("td-teardown");
	const std::size_t at = nth(t, "tdx_hook_enter: hook remove_external_spte gfn 1 ");
	const char* calls[] = {
		"tdx_seamcall: leaf TDH.MEM.RANGE.BLOCK rcx 1 rdx 100000000 r8 0 r9 0 status 0 out_rcx 0 out_rdx 0 out_r8 0",
		"tdx_seamcall: leaf TDH.MEM.TRACK rcx 100000000 rdx 0 r8 0 r9 0 status 0 out_rcx 0 out_rdx 0 out_r8 0",
		"tdx_seamcall: leaf TDH.MEM.SEPT.REMOVE rcx 1 rdx 100000000 r8 0 r9 0 status 0 out_rcx 0 out_rdx 0 out_r8 0"};
	for (std::size_t i = 0; i < 3; i++)
		t.insert(t.begin() + static_cast<long>(at + i), with_payload(t, at, calls[i]));
	expect_at(check_tdx(t), "sept.children-not-free", at + 3);
}

TEST(Mutation, ReusedPage)
{
	// gfn 11's AUG hands the module gfn 10's page again.
	auto t = lines_of("td-teardown");
	const std::size_t aug = nth(t, "leaf TDH.MEM.PAGE.AUG rcx 11000");
	edit(t, aug, "r8 10000d000", "r8 10000c000");
	expect_at(check_tdx(t), "pamt.page-in-use", aug);
}

TEST(Mutation, ChangedStatus)
{
	// A BLOCK that succeeded in the model is reported as failed.
	auto t = lines_of("td-teardown");
	const std::size_t block = nth(t, "leaf TDH.MEM.RANGE.BLOCK");
	edit(t, block, "status 0 ", "status c0000b0d00000001 ");
	expect_at(check_tdx(t), "sept.status-mismatch", block);
}

TEST(Mutation, WalkThroughMissingTable)
{
	// An AUG at 1 GiB + 2 MiB, where no 4K S-EPT page was added.
	auto t = lines_of("td-teardown");
	const std::size_t aug = nth(t, "leaf TDH.MEM.PAGE.AUG rcx 11000");
	edit(t, aug, "rcx 11000 ", "rcx 40200000 ");
	expect_at(check_tdx(t), "sept.walk", aug);
}

TEST(Mutation, MirrorSpteDisagrees)
{
	// The mirror install after set_external_spte maps another page than the
	// one AUG gave the S-EPT.
	auto t = lines_of("td-teardown");
	const std::size_t aug = nth(t, "leaf TDH.MEM.PAGE.AUG rcx 10000");
	const std::size_t change = find_line(t, "kvm_tdp_mmu_spte_changed: as id 0 gfn 10 level 1", aug);
	edit(t, change, "new_spte 860000010000cb37", "new_spte 860000010001cb37");
	expect_at(check_tdx(t), "mirror.unsynced", change);
}

TEST(Mutation, MirrorZapWithoutRemove)
{
	// The mirror leaf of gfn 1 is zapped, but remove_external_spte never
	// runs: the S-EPT still maps the page.
	auto t = lines_of("td-teardown");
	const std::size_t zap = nth(t, "kvm_tdp_mmu_spte_changed: as id 0 gfn 1 level 1 old_spte 8600000100008b37");
	const std::size_t exit = find_line(t, "tdx_hook_exit: hook remove_external_spte gfn 1 ", zap);
	t.erase(t.begin() + static_cast<long>(zap), t.begin() + static_cast<long>(exit));
	expect_at(check_tdx(t), "mirror.unsynced", zap);
}

TEST(Mutation, SeamcallOutsideAHook)
{
	// An AUG with no set_external_spte around it: the S-EPT maps gfn 20,
	// the mirror does not.
	auto t = lines_of("td-teardown");
	const std::size_t fin = nth(t, "leaf TDH.MR.FINALIZE");
	t.insert(t.begin() + static_cast<long>(fin),
		 with_payload(t, fin,
			      "tdx_seamcall: leaf TDH.MEM.PAGE.AUG rcx 20000 rdx 100000000 r8 100020000 r9 0 status 0 "
			      "out_rcx 0 out_rdx 0 out_r8 0"));
	expect_at(check_tdx(t), "mirror.unsynced", fin + 1);
}

TEST(Mutation, MirrorSplitWithoutDemote)
{
	auto t = lines_of("td-huge-split");
	const std::size_t demote = nth(t, "leaf TDH.MEM.PAGE.DEMOTE");
	std::size_t split = 0;
	for (std::size_t i = demote; i-- > 1;)
		if (t[i - 1].find("kvm_tdp_mmu_spte_changed") != std::string::npos) {
			split = i;
			break;
		}
	ASSERT_NE(split, 0u);
	erase(t, demote);
	expect_at(check_tdx(t), "mirror.huge", split);
}

TEST(Mutation, FreeidBeforeCacheWb)
{
	auto t = lines_of("td-teardown");
	const std::size_t wb = nth(t, "leaf TDH.PHYMEM.CACHE.WB");
	erase(t, wb);
	expect_at(check_tdx(t), "td.lifecycle", wb); // the KEY.FREEID moved up to wb's line
}

// One row per check of the spec: a kind the checker knows, and no fault or
// status that names two checks (the lookups take the first).
TEST(TdxChecks, EachCheckOnceWithAKnownKind)
{
	const auto checks = tdx_checks();
	ASSERT_FALSE(checks.empty());
	for (std::size_t i = 0; i < checks.size(); i++) {
		EXPECT_NO_THROW(violation_kind(checks[i].kind)) << checks[i].check;
		EXPECT_TRUE(checks[i].fault != spec::no_fault || checks[i].status != NO_STATUS) << checks[i].check;
		for (std::size_t j = 0; j < i; j++) {
			EXPECT_NE(checks[i].check, checks[j].check);
			if (checks[i].fault != spec::no_fault) {
				EXPECT_FALSE(checks[i].fault == checks[j].fault) << checks[i].check;
			}
			if (checks[i].status != NO_STATUS) {
				EXPECT_FALSE(checks[i].status == checks[j].status && checks[i].operand == checks[j].operand)
					<< checks[i].check;
			}
		}
	}
}

TEST(Mutation, EveryTdxKindHasATest)
{
	const std::vector<std::string_view> tested = {
		"sept.status-mismatch", "sept.not-blocked", "sept.tlb-not-tracked", "sept.children-not-free", "sept.walk",
		"pamt.page-in-use",     "td.lifecycle",     "td.vcpu-association",  "mirror.unsynced",
		"mirror.huge"};
	for (const ViolationKind& k : violation_kinds())
		if (!k.kind.starts_with("spte.") && !k.kind.starts_with("omission.")) { // omission_test.cpp
			EXPECT_NE(std::find(tested.begin(), tested.end(), k.kind), tested.end()) << k.kind;
		}
}

// ---- several TDs, lost events, vCPU migration, hookless mirror installs ---------------------

// The trace lines of a TD scenario without the header.
std::vector<std::string> events_of(const std::string& name)
{
	std::vector<std::string> t;
	for (std::string& l : lines_of(name))
		if (!l.starts_with("#"))
			t.push_back(std::move(l));
	return t;
}

// The same line run on CPU `cpu` (the "[NNN]" column).
std::string on_cpu(std::string l, unsigned cpu)
{
	const std::size_t open = l.find(" [");
	const std::size_t close = l.find("] ", open);
	std::string n = std::to_string(cpu);
	n.insert(0, 3 - std::min<std::size_t>(3, n.size()), '0');
	return l.replace(open + 2, close - open - 2, n);
}

// Another TD like the one of a generated trace (tests/data/tdx, whose host
// pages are below 4 GiB + 1 MiB): every host physical address -- the TDR,
// control, S-EPT and guest pages, the pages of KVM's page tables and the
// shared pages in SPTEs and PFNs -- moved up by 4 GiB, HKID 2 instead of 1;
// the GPAs and GFNs stay (every TD has its firmware at the same GPAs).
std::string other_td(const std::string& l)
{
	const u64 SHIFT = u64{1} << 32, PFN_SHIFT = SHIFT >> 12, KEYID_SHIFT = 46;
	auto page = [](u64 pa) { return pa >= 0x100000000 && pa < 0x100100000; };
	auto frame = [](u64 pfn) {
		return (pfn >= 0x100000 && pfn < 0x100100) || (pfn >= 0x10000 && pfn < 0x10100) ||
		       (pfn >= 0x4000000 && pfn < 0x4000100);
	};
	const std::size_t event = l.find(": ", l.find("] "));
	const std::size_t payload = l.find(": ", event + 2) + 2;
	std::string out = l.substr(0, payload);
	std::istringstream words(l.substr(payload));
	std::string prev;
	for (std::string w; words >> w; prev = w) {
		out += (out.size() == payload ? "" : " ");
		u64 v = 0;
		const bool number = w.find_first_not_of("0123456789abcdef") == std::string::npos &&
				    w.size() <= 16 && prev != "leaf" && prev != "hook";
		if (number)
			v = std::stoull(w, nullptr, 16);
		if (!number) {
			out += w;
		} else if (l.find("TDH.MNG.CREATE") != std::string::npos && prev == "rdx") {
			out += "2"; // the HKID
		} else if (page(v)) {
			out += hex_digits(v + SHIFT);
		} else if (v >> 63) { // an SPTE: its PFN
			const u64 pfn = (v >> 12) & ((u64{1} << 40) - 1);
			out += hex_digits(frame(pfn) ? v + SHIFT : v);
		} else if (prev == "pfn" && frame(v)) {
			out += hex_digits(v + PFN_SHIFT);
		} else if ((v >> KEYID_SHIFT) == 1 && page(v & ((u64{1} << KEYID_SHIFT) - 1))) {
			out += hex_digits((u64{2} << KEYID_SHIFT) | ((v & ((u64{1} << KEYID_SHIFT) - 1)) + SHIFT));
		} else {
			out += w;
		}
	}
	return out;
}

std::vector<std::string> other_td(const std::vector<std::string>& t)
{
	std::vector<std::string> o;
	for (const std::string& l : t)
		o.push_back(other_td(l));
	return o;
}

// The lines [from, to) of t (1-based; to 0: the end).
std::vector<std::string> slice(const std::vector<std::string>& t, std::size_t from, std::size_t to = 0)
{
	return {t.begin() + static_cast<long>(from - 1), to ? t.begin() + static_cast<long>(to - 1) : t.end()};
}

void append(std::vector<std::string>& to, const std::vector<std::string>& lines)
{
	to.insert(to.end(), lines.begin(), lines.end());
}

TEST(OtherTd, MovesHostAddressesOnly)
{
	EXPECT_EQ(other_td("    a-1 [000] ..... 0.1: tdx_seamcall: leaf TDH.MEM.PAGE.AUG rcx 10000 rdx 100000000 r8 10000c000 "
			   "r9 0 status 0 out_rcx 0 out_rdx 0 out_r8 10000c000"),
		  "    a-1 [000] ..... 0.1: tdx_seamcall: leaf TDH.MEM.PAGE.AUG rcx 10000 rdx 200000000 r8 20000c000 r9 0 "
		  "status 0 out_rcx 0 out_rdx 0 out_r8 20000c000");
	EXPECT_EQ(other_td("    a-1 [000] ..... 0.1: kvm_tdp_mmu_spte_changed: as id 0 gfn 10 level 1 old_spte "
			   "8000000000000000 new_spte 860000010000cb37"),
		  "    a-1 [000] ..... 0.1: kvm_tdp_mmu_spte_changed: as id 0 gfn 10 level 1 old_spte 8000000000000000 "
		  "new_spte 860000020000cb37");
	EXPECT_EQ(other_td("    a-1 [000] ..... 0.1: tdx_seamcall: leaf TDH.PHYMEM.PAGE.WBINVD rcx 40010000c000 rdx 0 r8 0 r9 0 "
			   "status 0 out_rcx 40010000c000 out_rdx 0 out_r8 0"),
		  "    a-1 [000] ..... 0.1: tdx_seamcall: leaf TDH.PHYMEM.PAGE.WBINVD rcx 80020000c000 rdx 0 r8 0 r9 0 "
		  "status 0 out_rcx 80020000c000 out_rdx 0 out_r8 0");
	EXPECT_EQ(on_cpu("    a-1 [000] ..... 0.1: tdx_vcpu_enter: tdvpr 1", 12), "    a-1 [012] ..... 0.1: tdx_vcpu_enter: tdvpr 1");
}

TEST(TwoTds, CacheWbIsPerPackage)
{
	// TD B is built and keeps its HKID while TD A is torn down: A's
	// TDH.PHYMEM.CACHE.WB writes back every HKID ready on the package
	// (tdh_phymem_cache_wb.c), which is A's; B not being ready is no error.
	const auto a = events_of("td-teardown");
	auto t = slice(other_td(a), 1, nth(a, "kvm_mmu_get_page"));
	append(t, a);
	const CheckResult r = check_tdx(t);
	EXPECT_TRUE(r.violations.empty()) << kinds(r) << (r.violations.empty() ? "" : r.violations.front().message);
	EXPECT_EQ(r.stats.tds, 2u);
}

TEST(TwoTds, CacheWbWithNoTdReady)
{
	// Neither TD did TDH.MNG.VPFLUSHDONE: a successful CACHE.WB is one the
	// module refuses with TDX_NO_HKID_READY_TO_WBCACHE.
	const auto a = events_of("td-teardown");
	auto t = slice(other_td(a), 1, nth(a, "kvm_mmu_get_page"));
	append(t, a);
	const std::size_t done = nth(t, "leaf TDH.MNG.VPFLUSHDONE");
	erase(t, done);
	const CheckResult r = check_tdx(t);
	ASSERT_FALSE(r.violations.empty());
	EXPECT_EQ(r.violations.front().line, done) << kinds(r); // the CACHE.WB moved up to its line
	EXPECT_EQ(r.violations.front().kind, "td.lifecycle") << r.violations.front().message;
}

// TD A built, TD B built, then A's faults, B's faults, A's teardown, B's
// teardown: both TDs map the same GPAs, and each installs into an empty
// slot of a table the other TD has too.
std::vector<std::string> two_tds_same_gpas()
{
	const auto a = events_of("td-teardown");
	const auto b = other_td(a);
	const std::size_t run = nth(a, "kvm_mmu_spte_requested: gfn 10 ");
	const std::size_t down = nth(a, "tdx_vcpu_exit") + 1;
	std::vector<std::string> t = slice(a, 1, run);
	append(t, slice(b, 1, run));
	append(t, slice(a, run, down));
	append(t, slice(b, run, down));
	append(t, slice(a, down));
	append(t, slice(b, down));
	return t;
}

TEST(TwoTds, SameGpasAreToldApartByTheirTd)
{
	const CheckResult r = check_tdx(two_tds_same_gpas());
	EXPECT_TRUE(r.violations.empty()) << kinds(r) << (r.violations.empty() ? "" : r.violations.front().message);
	EXPECT_EQ(r.stats.tds, 2u);
	EXPECT_GT(r.stats.mirror_checks, 0u);
}

TEST(TwoTds, AMirrorMistakeIsStillFound)
{
	// With both TDs alive, B's install of gfn 10 maps another page than its AUG.
	auto t = two_tds_same_gpas();
	const std::size_t aug = nth(t, "leaf TDH.MEM.PAGE.AUG rcx 10000 rdx 200000000");
	const std::size_t change = find_line(t, "kvm_tdp_mmu_spte_changed: as id 0 gfn 10 level 1", aug);
	edit(t, change, "new_spte 860000020000cb37", "new_spte 860000020001cb37");
	expect_at(check_tdx(t), "mirror.unsynced", change);
}

// A loss marker (the kernel's, trace-cmd's) in place of the lines [from, to).
std::vector<std::string> lose(std::vector<std::string> t, std::size_t from, std::size_t to, const std::string& marker)
{
	t.erase(t.begin() + static_cast<long>(from - 1), t.begin() + static_cast<long>(to - 1));
	t.insert(t.begin() + static_cast<long>(from - 1), marker);
	return t;
}

TEST(LostEvents, TheTdStateBeforeTheLossIsDropped)
{
	// The HKID's release (VP.FLUSH, VPFLUSHDONE, CACHE.WB, KEY.FREEID) is
	// lost: the RECLAIMs that follow are not checked against a module that
	// still has the HKID.
	const auto a = events_of("td-teardown");
	const std::size_t flush = nth(a, "leaf TDH.VP.FLUSH");
	const std::size_t freeid = nth(a, "leaf TDH.MNG.KEY.FREEID");
	for (const std::string marker : {"CPU:0 [LOST 4 EVENTS]", "CPU:0 [4 EVENTS DROPPED]"}) {
		const CheckResult r = check_tdx(lose(a, flush, freeid + 1, marker));
		EXPECT_TRUE(r.violations.empty()) << marker << ": " << kinds(r)
						   << (r.violations.empty() ? "" : r.violations.front().message);
		EXPECT_TRUE(r.stats.partial);
		EXPECT_GT(r.stats.seamcalls_not_replayed, 8u); // the RECLAIMs
	}
}

TEST(LostEvents, AReusedPageIsNotAFalseAlarm)
{
	// The zap of gfn 10 (its REMOVE gave page 10000c000 back) is lost; the
	// page is then AUGed again at gfn 20 by a TD the model no longer knows.
	auto a = events_of("td-teardown");
	const std::size_t zap = nth(a, "kvm_tdp_mmu_spte_changed: as id 0 gfn 10 level 1 old_spte 860000010000cb37");
	const std::size_t end = find_line(a, "tdx_hook_exit: hook remove_external_spte gfn 10 ", zap) + 1;
	const char* again[] = {
		"tdx_hook_enter: hook set_external_spte gfn 20 level 1 arg 860000010000cb37",
		"tdx_seamcall: leaf TDH.MEM.PAGE.AUG rcx 20000 rdx 100000000 r8 10000c000 r9 0 status 0 out_rcx 0 out_rdx 0 "
		"out_r8 10000c000",
		"tdx_hook_exit: hook set_external_spte gfn 20 level 1 ret 0"};
	for (std::size_t i = 0; i < 3; i++)
		a.insert(a.begin() + static_cast<long>(end - 1 + i), with_payload(a, zap + 1, again[i]));
	const CheckResult r = check_tdx(lose(a, zap, end, "CPU:0 [LOST 7 EVENTS]"));
	EXPECT_TRUE(r.violations.empty()) << kinds(r) << (r.violations.empty() ? "" : r.violations.front().message);
}

TEST(LostEvents, ATdBuiltAfterTheLossIsChecked)
{
	// After a loss in TD A's life, TD B is built and torn down: B is
	// replayed from its construction on, so its REMOVE without TRACK is found.
	const auto a = events_of("td-teardown");
	const std::size_t flush = nth(a, "leaf TDH.VP.FLUSH");
	auto t = lose(a, flush, flush + 2, "CPU:0 [LOST 2 EVENTS]");
	auto b = other_td(a);
	const std::size_t track = nth(b, "leaf TDH.MEM.TRACK");
	const std::size_t remove = nth(b, "leaf TDH.MEM.PAGE.REMOVE");
	erase(b, track);
	const std::size_t base = t.size();
	append(t, b);
	const CheckResult r = check_tdx(t);
	expect_at(r, "sept.tlb-not-tracked", base + remove - 1);
	EXPECT_EQ(r.stats.tds, 2u);
}

// td-teardown with the vCPU's SEAMCALLs where Linux v6.19 makes them: the
// vCPU is initialized (TDH.VP.INIT) on the CPU it runs on, and flushed
// there (tdx_flush_vp_on_cpu(): an IPI to vcpu->cpu).
std::vector<std::string> vcpu_on_cpu1()
{
	auto t = events_of("td-teardown");
	for (const char* what : {"leaf TDH.VP.CREATE", "leaf TDH.VP.INIT", "leaf TDH.VP.FLUSH", "tdx_vcpu_"})
		for (std::size_t n = find_line(t, what); n; n = find_line(t, what, n + 1))
			t[n - 1] = on_cpu(t[n - 1], 1);
	return t;
}

TEST(VcpuMigration, OnTheCpuOfItsInitIsAccepted)
{
	const CheckResult r = check_tdx(vcpu_on_cpu1());
	EXPECT_TRUE(r.violations.empty()) << kinds(r) << (r.violations.empty() ? "" : r.violations.front().message);
}

TEST(VcpuMigration, WithoutVpFlushIsReported)
{
	// The vCPU runs on CPU 2, but it is still associated with CPU 1, where
	// TDH.VP.INIT ran: the entry gets TDX_VCPU_ASSOCIATED (associate_vcpu()).
	auto t = vcpu_on_cpu1();
	const std::size_t enter = nth(t, "tdx_vcpu_enter");
	t[enter - 1] = on_cpu(t[enter - 1], 2);
	t[enter] = on_cpu(t[enter], 2); // its exit
	const CheckResult r = check_tdx(t);
	expect_at(r, "td.vcpu-association", enter + 1);
	ASSERT_FALSE(r.violations.empty());
	EXPECT_NE(r.violations.front().message.find("TDX_VCPU_ASSOCIATED"), std::string::npos)
		<< r.violations.front().message;
}

TEST(VcpuMigration, WithVpFlushOnTheOldCpuIsAccepted)
{
	// tdx_vcpu_load() on CPU 2: tdx_flush_vp_on_cpu() flushes it on CPU 1
	// first; later it is flushed on CPU 2, where it last ran.
	auto t = vcpu_on_cpu1();
	const std::size_t enter = nth(t, "tdx_vcpu_enter");
	const std::size_t flush = nth(t, "leaf TDH.VP.FLUSH");
	t[flush - 1] = on_cpu(t[flush - 1], 2);
	t[enter - 1] = on_cpu(t[enter - 1], 2);
	t[enter] = on_cpu(t[enter], 2);
	t.insert(t.begin() + static_cast<long>(enter - 1), t[flush - 1]);
	t[enter - 1] = on_cpu(t[enter - 1], 1);
	const CheckResult r = check_tdx(t);
	EXPECT_TRUE(r.violations.empty()) << kinds(r) << (r.violations.empty() ? "" : r.violations.front().message);
}

TEST(VcpuMigration, VpFlushOnAnotherCpuIsReported)
{
	// The teardown's TDH.VP.FLUSH runs on CPU 0, not on CPU 1 where the
	// vCPU is associated: the module says TDX_VCPU_NOT_ASSOCIATED (the
	// vCPU stays associated, and VPFLUSHDONE then fails too).
	auto t = vcpu_on_cpu1();
	const std::size_t flush = nth(t, "leaf TDH.VP.FLUSH");
	t[flush - 1] = on_cpu(t[flush - 1], 0);
	expect_at(check_tdx(t), "td.vcpu-association", flush);
}

TEST(HooklessMirror, InstallWithoutSetExternalSpte)
{
	// gfn 10's set_external_spte and its AUG deleted: the mirror SPTE is
	// installed, the S-EPT never maps the page; with and without the
	// kvm_mmu_set_spte that names the mirror level-1 table's entry (pfn
	// 4000004, index 0x10).
	for (const bool set_spte : {false, true}) {
		auto t = lines_of("td-teardown");
		const std::size_t hook = nth(t, "tdx_hook_enter: hook set_external_spte gfn 10 ");
		t.erase(t.begin() + static_cast<long>(hook - 1), t.begin() + static_cast<long>(hook + 2));
		const std::size_t change =
			nth(t, "kvm_tdp_mmu_spte_changed: as id 0 gfn 10 level 1 old_spte 8000000000000000");
		ASSERT_EQ(change, hook);
		if (set_spte) {
			std::string l = t[change - 1];
			t.insert(t.begin() + static_cast<long>(change),
				 l.substr(0, l.find(": kvm_") + 2) +
					 "kvm_mmu_set_spte: gfn 10 spte 860000010000cb37 (rwxu) level 1 at 4000004080");
		}
		const CheckResult r = check_tdx(t);
		expect_at(r, "mirror.unsynced", change);
		for (const Violation& v : r.violations)
			EXPECT_FALSE(v.kind.starts_with("spte.")) << set_spte << ": " << v.kind << " " << v.message;
	}
}

TEST(HooklessMirror, InstallWithoutHookWhereADirectTableIsToo)
{
	// An install at gfn 13 after the shared mapping of gfn 12 linked the
	// direct root's table over gfn 0-1ff: without a hook it reads as a
	// shared mapping (the tracepoint names no root), until the
	// kvm_mmu_set_spte that follows names the mirror table's entry (the
	// mirror level-1 table is pfn 4000004, linked by 8000004000004907).
	auto t = lines_of("td-teardown");
	const std::size_t shared = nth(t, "kvm_tdp_mmu_spte_changed: as id 0 gfn 12 level 1");
	const std::vector<std::string> add = {
		"kvm_mmu_spte_requested: gfn 13 pfn 100013 level 1",
		"kvm_tdp_mmu_spte_changed: as id 0 gfn 13 level 1 old_spte 8000000000000000 new_spte 8600000100013b37",
		"kvm_mmu_set_spte: gfn 13 spte 8600000100013b37 (rwxu) level 1 at 4000004098"};
	for (std::size_t i = 0; i < add.size(); i++) {
		std::string l = t[shared - 1];
		l = l.substr(0, l.find(": kvm_") + 2) + add[i];
		t.insert(t.begin() + static_cast<long>(shared + i), l);
	}
	const CheckResult r = check_tdx(t);
	expect_at(r, "mirror.unsynced", shared + 2);
	// Not a mismatch of kvm_mmu_set_spte: the entry it names holds the SPTE.
	// (The edit leaves the mirror teardown without a freeze of gfn 13,
	// which is reported later as spte.orphaned-table.)
	for (const Violation& v : r.violations)
		EXPECT_NE(v.kind, "spte.set-spte-mismatch") << v.message;
}

// ---- cost --------------------------------------------------------------------------------

// The shape of tests/data/tdx/make-mismatch-trace.sh (the reproducers
// that once made the replay quadratic): a TD built and finalized,
// then `regions` WBINVDs of free pages in new 2 MiB regions and
// `mismatches` RECLAIMs of pages the module never had, each in a new
// region, traced as successful.  The regions start at 16 GiB, above the
// TD's own pages at 4 GiB.
std::vector<std::string> mismatch_trace(unsigned mismatches, unsigned regions)
{
	std::vector<std::string> t;
	unsigned clock = 0;
	auto sc = [&](const std::string& leaf, const std::string& rcx, const std::string& rdx) {
		++clock;
		t.push_back("    arborist-run-1000 [000] ..... " + std::to_string(clock / 1000000) + "." +
			    std::to_string(1000000 + clock % 1000000).substr(1) + ": tdx_seamcall: leaf " + leaf + " rcx " + rcx +
			    " rdx " + rdx + " r8 0 r9 0 status 0 out_rcx 0 out_rdx 0 out_r8 0");
	};
	sc("TDH.MNG.CREATE", "100000000", "1");
	sc("TDH.MNG.KEY.CONFIG", "100000000", "0");
	for (unsigned i = 1; i <= 6; i++)
		sc("TDH.MNG.ADDCX", hex_digits(0x100000000 + i * 0x1000), "100000000");
	t.push_back("    arborist-run-1000 [000] ..... 0.000009: tdx_td_params: tdr 100000000 pwl 4 x86_phys_bits 46");
	sc("TDH.MNG.INIT", "100000000", "0");
	sc("TDH.VP.CREATE", "100007000", "100000000");
	sc("TDH.VP.INIT", "100007000", "0");
	sc("TDH.MR.FINALIZE", "100000000", "0");
	for (u64 i = 1; i <= regions + mismatches; i++)
		sc(i <= regions ? "TDH.PHYMEM.PAGE.WBINVD" : "TDH.PHYMEM.PAGE.RECLAIM",
		   hex_digits(0x400000000 + i * 0x200000 + (i <= regions ? 0 : 0x1000)), "0");
	return t;
}

double cpu_seconds() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

TEST(Cost, MismatchedStatusesOverManyRegionsAreLinear)
{
	// Each mismatched RECLAIM names a new 2 MiB region, so the simulated
	// TDMR grows with the trace; looking for the check that explains a
	// status must not copy the module (a copy per check made 1,600
	// mismatches take 26.7 s).
	const auto t = mismatch_trace(3000, 0);
	const double start = cpu_seconds();
	const CheckResult r = check_tdx(t);
	const double took = cpu_seconds() - start;
	EXPECT_EQ(r.violations.size(), 3000u) << kinds(r);
	for (const Violation& v : r.violations)
		ASSERT_EQ(v.kind, "sept.status-mismatch") << v.message;
	EXPECT_EQ(r.stats.seamcalls_replayed, 3000u + 12u);
	// A linear replay takes well under a second even with sanitizers.
	EXPECT_LT(took, 10.0) << "3000 mismatched RECLAIMs took " << took << " s of CPU";
}

TEST(Cost, MismatchesWithManyRegionsMapped)
{
	// 4,000 regions mapped, then 20 mismatches: each cost about 1 s when
	// the search copied the module.
	const auto t = mismatch_trace(20, 4000);
	const double start = cpu_seconds();
	const CheckResult r = check_tdx(t);
	const double took = cpu_seconds() - start;
	EXPECT_EQ(r.violations.size(), 20u) << kinds(r);
	EXPECT_LT(took, 5.0) << "20 mismatches with 4000 regions mapped took " << took << " s of CPU";
}

// ---- the payloads -------------------------------------------------------------------------

TEST(TdxParse, Seamcall)
{
	const Where w{"t", 7};
	const Seamcall c = decode_seamcall("leaf TDH.MEM.PAGE.AUG rcx 10000 rdx 100000000 r8 10000c000 r9 0 status "
					   "8000020000000001 out_rcx 0 out_rdx 0 out_r8 0",
					   w);
	EXPECT_EQ(c.leaf, 6u);
	EXPECT_EQ(c.r8, 0x10000c000u);
	EXPECT_EQ(c.status, 0x8000020000000001u);
	try {
		decode_seamcall("leaf TDH.MEM.PAGE.EAT rcx 0 rdx 0 r8 0 r9 0 status 0 out_rcx 0 out_rdx 0 out_r8 0", w);
		FAIL();
	} catch (const ParseError& e) {
		EXPECT_EQ(e.field(), "leaf");
		EXPECT_EQ(e.line(), 7u);
	}
	try {
		decode_seamcall("leaf TDH.MEM.TRACK rcx 0 rdx 0 r8 0 r9 0 status 0 out_rcx 0 out_rdx 0", w);
		FAIL();
	} catch (const ParseError& e) {
		EXPECT_EQ(e.field(), "out_r8");
	}
}

TEST(TdxParse, HooksVcpusParams)
{
	const Where w{"t", 3};
	const HookCall h = decode_hook("hook remove_external_spte gfn 1 level 1 arg 8600000100008b37", w, false);
	EXPECT_EQ(h.hook, TdxHook::remove_external_spte);
	EXPECT_EQ(h.arg, 0x8600000100008b37u);
	EXPECT_EQ(decode_hook("hook set_external_spte gfn 9 level 1 ret -16", w, true).ret, -16);
	EXPECT_EQ(decode_vcpu_run("tdvpr 100007000 status 0", w, true).tdvpr, 0x100007000u);
	EXPECT_EQ(decode_td_params("tdr 100000000 pwl 5 x86_phys_bits 52", w).pwl, 5u);
	EXPECT_THROW(decode_td_params("tdr 100000000 pwl 3 x86_phys_bits 46", w), ParseError);
	// The error says what docs/trace-format.md allows (4 or 5; 36 to 52),
	// whichever side of it the value is on.
	auto error_of = [&](std::string_view payload) {
		try {
			decode_td_params(payload, w);
		} catch (const ParseError& e) {
			return std::string(e.what());
		}
		return std::string("no error");
	};
	EXPECT_EQ(error_of("tdr 1000 pwl 6 x86_phys_bits 46"), "t:3: field 'pwl': expected 4 or 5 (EPTP.PWL of a TD), found 6");
	EXPECT_EQ(error_of("tdr 1000 pwl 4 x86_phys_bits 60"), "t:3: field 'x86_phys_bits': expected 36 to 52, found 60");
	EXPECT_EQ(error_of("tdr 1000 pwl 4 x86_phys_bits 30"), "t:3: field 'x86_phys_bits': expected 36 to 52, found 30");
	EXPECT_THROW(decode_hook("hook set_external_spte gfn 9 level 1 ret 1", w, true), ParseError);
	EXPECT_THROW(decode_vcpu_run("tdvpr 1 status", w, true), ParseError);
}

TEST(TdxProfile, InferredFromATdxEvent)
{
	// conform_main picks linux-6.19-tdx from the first TDX event (profile
	// inference is tested end to end in conform_main_test.cpp for NPT).
	const auto t = lines_of("td-teardown");
	EXPECT_NE(t[4].find("tdx_seamcall"), std::string::npos);
}

} // namespace
} // namespace arborist::conform::test

namespace arborist::conform::test {
namespace {

// Found by conform.fuzz: TDH.VP.ADDCX or TDH.VP.INIT of a TD whose own
// construction the simulated module refused (no module to add the vCPU to)
// is refused too, not a null dereference.
TEST(TdxFuzzFindings, VcpuCallsBeforeTheTdIsBuilt)
{
	for (const char* leaf : {"TDH.VP.ADDCX", "TDH.VP.INIT"}) {
		TraceBuilder b;
		b.event("tdx_seamcall", "leaf TDH.MNG.CREATE rcx 100000000 rdx 1 r8 0 r9 0 status 0 out_rcx 0 out_rdx 0 out_r8 0");
		b.event("tdx_seamcall", std::string("leaf ") + leaf +
						" rcx 100009000 rdx 100000000 r8 0 r9 0 status 0 out_rcx 0 out_rdx 0 out_r8 0");
		const CheckResult r = check_text(b.text(), linux_6_19_tdx);
		EXPECT_FALSE(r.violations.empty()) << leaf;
	}
}

} // namespace
} // namespace arborist::conform::test
