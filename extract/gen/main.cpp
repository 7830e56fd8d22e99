// SPDX-License-Identifier: GPL-2.0-only
//
// arborist-extract OUTDIR: writes the kernel-style C headers of
// extract/include/arborist/ (docs/extract.md), one generator per spec
// header (extract/gen/gen_*.cpp, common.hpp).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "common.hpp"

int main(int argc, char** argv)
{
	using namespace arborist::extract::gen;
	if (argc != 2) {
		std::fprintf(stderr, "usage: arborist-extract OUTDIR\n");
		return 2;
	}
	try {
		const std::filesystem::path out(argv[1]);
		std::filesystem::create_directories(out);
		const Output outputs[] = {
			spte_header(arborist::spec::ept_v6_19, "spte_ept.h", "ept_v6_19_"),
			spte_header(arborist::spec::npt_v6_1, "spte_npt.h", "npt_v6_1_"),
			gfn_header(),
			tlb_header(),
			root_header(),
			mirror_hook_header(),
			sept_flags_header(),
			sept_header(),
		};
		for (const Output& o : outputs) {
			std::ofstream f(out / o.file, std::ios::binary);
			f << o.text;
			if (!f)
				throw std::runtime_error("cannot write " + (out / o.file).string());
		}
	} catch (const std::exception& e) {
		std::fprintf(stderr, "arborist-extract: %s\n", e.what());
		return 1;
	}
	return 0;
}

