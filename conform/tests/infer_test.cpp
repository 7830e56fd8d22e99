// SPDX-License-Identifier: GPL-2.0-only
//
// Profile inference (conform/infer.hpp): each layout of profile.hpp is
// recognised from its own values, TDX only from a TDX event, and evidence
// that cannot separate two profiles that replay differently is reported
// as ambiguous.
#include "conform/infer.hpp"

#include "trace_fixture.hpp"

namespace arborist::conform::test {
namespace {

struct Inferred {
	const Profile* profile = nullptr;
	std::string how;
	bool ambiguous = false;
	u64 decided_at = 0; // line, 0 if only at the end
};

Inferred infer(const std::string& text)
{
	ProfileInference inf;
	StringSource src(text);
	LineReader reader = trace_reader(src);
	Where w{"t.txt", 0};
	Inferred r;
	while (const std::optional<std::string_view> l = reader.next()) {
		w.line = reader.line_number();
		if (inf.observe(parse_trace_line(*l, w), w)) {
			r.decided_at = w.line;
			break;
		}
	}
	inf.settle("at the end of the trace");
	r.profile = &inf.profile();
	r.how = inf.how();
	r.ambiguous = inf.ambiguous();
	return r;
}

// The first two changes of a trace: a table linked under a fresh root, and
// a writable 4K leaf in it, in flavour f.
std::string fault_in(const spec::SpteFlavor& f)
{
	TraceBuilder b;
	link_tables(b, f).change(1, 1, spec::nonpresent_spte(spec::concrete, f), leaf(0x200, 1, f));
	return b.text();
}

TEST(Infer, EachLayoutNamesItsProfile)
{
	const struct {
		const spec::SpteFlavor& flavor;
		const Profile& want;
	} cases[] = {{spec::npt_v6_1, linux_6_1_npt},
		     {spec::ept_v6_1, linux_6_1_ept},
		     {spec::npt_v6_10, linux_6_12_npt},
		     {spec::ept_v6_19, linux_6_12_ept}};
	for (const auto& c : cases) {
		const Inferred r = infer(fault_in(c.flavor));
		EXPECT_EQ(r.profile, &c.want) << c.flavor.name << ": " << r.how;
		EXPECT_EQ(r.decided_at, 2u) << c.flavor.name << ": " << r.how;
		EXPECT_FALSE(r.ambiguous) << r.how;
	}
}

TEST(Infer, SameReplayProfilesAreNamed)
{
	const Inferred r = infer(fault_in(spec::npt_v6_10));
	EXPECT_NE(r.how.find("linux-6.19-npt replays the same"), std::string::npos) << r.how;
}

TEST(Infer, TdxOnlyFromATdxEvent)
{
	// EPT values of v6.19, without a TDX event: EPT without TDX.
	EXPECT_FALSE(infer(fault_in(spec::ept_v6_19)).profile->tdx);
	// A TDX event decides, wherever the layout evidence pointed before.
	TraceBuilder b;
	b.event("tdx_td_params", "tdr 1000 pwl 4 x86_phys_bits 52");
	const Inferred r = infer(b.text() + fault_in(spec::npt_v6_1));
	EXPECT_EQ(r.profile, &linux_6_19_tdx) << r.how;
	EXPECT_EQ(r.decided_at, 1u);
	EXPECT_NE(r.how.find("tdx_td_params is a TDX event"), std::string::npos) << r.how;
}

TEST(Infer, ValuesWithoutLayoutAreAmbiguous)
{
	// Only non-present and frozen values (a zap of entries the trace never
	// saw installed): 6.1 NPT or 6.1 EPT, which replay differently.
	TraceBuilder b;
	b.change(5, 1, 0x5a0, 0);
	const Inferred r = infer(b.text());
	EXPECT_TRUE(r.ambiguous) << r.how;
	EXPECT_EQ(r.profile, &linux_6_1_npt);
	EXPECT_NE(r.how.find("fits linux-6.1-npt, linux-6.1-ept"), std::string::npos) << r.how;
	EXPECT_NE(r.how.find("--profile"), std::string::npos) << r.how;
}

TEST(Infer, NoEvidenceIsTheDefaultAndSaysSo)
{
	TraceBuilder b;
	b.event("kvm_exit", "vcpu 0 reason npf rip 0x0 info1 0x0 info2 0x0 intr_info 0x0 error_code 0x0");
	const Inferred r = infer(b.text());
	EXPECT_FALSE(r.ambiguous);
	EXPECT_EQ(r.profile, &linux_6_1_npt);
	EXPECT_NE(r.how.find("no evidence"), std::string::npos) << r.how;
}

TEST(Infer, AWritableLeafNamesTheArchitecture)
{
	// No table link in the trace: a writable leaf's host/MMU-writable bits
	// (NPT 9/10, EPT 57/58) and the non-present value decide.
	for (const spec::SpteFlavor* f : {&spec::npt_v6_10, &spec::ept_v6_1}) {
		TraceBuilder b;
		b.change(1, 1, spec::nonpresent_spte(spec::concrete, *f), leaf(0x200, 1, *f));
		const Inferred r = infer(b.text());
		EXPECT_EQ(&r.profile->flavor, f) << r.how;
		EXPECT_NE(r.how.find("writable leaf"), std::string::npos) << r.how;
	}
}

TEST(Infer, TheRealTraceIsNpt61)
{
	const Inferred r = infer(read_file(REAL_TRACE));
	EXPECT_EQ(r.profile, &linux_6_1_npt) << r.how;
	EXPECT_EQ(r.decided_at, 20u);
}

} // namespace
} // namespace arborist::conform::test
