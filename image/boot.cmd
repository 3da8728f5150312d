# Alder A/B boot script: image/build turns it into boot.scr (mkimage -T script).
# docs/design/image.md describes the flow. In short:
#  1. read the two env copies (uboot.env, uboot-redund.env: libubootenv's
#     redundant format, CRC32 + flag byte + data) and import the newer valid one;
#  2. during a try-boot (upgrade_available=1) count the attempt; past bootlimit
#     give up on the new slot and go back to the other one;
#  3. write the env into the copy that was NOT read (the read one stays intact
#     if the power fails while writing);
#  4. boot the slot's signed FIT (its default configuration: a FIT does not
#     know the slot it is in, see docs/design/image.md); if U-Boot refuses it
#     (missing, torn, bad hash or signature) boot the other slot's FIT.
#     panic=5: a kernel that panics reboots, so a try-boot gets counted.
# Numbers in setexpr are hex; comparisons use setexpr and string tests only.

setenv e_size 0x4000
setenv e_isz 0x3fff
setenv e_dsz 0x3ffb
setenv e_raw1 0x4c000000
setenv e_raw1f 0x4c000004
setenv e_raw1d 0x4c000005
setenv e_raw2 0x4c100000
setenv e_raw2f 0x4c100004
setenv e_raw2d 0x4c100005
setenv e_buf 0x4c200000
setenv e_bufd 0x4c200004
setenv e_out 0x4c300000
setenv e_outf 0x4c300004
setenv e_outd 0x4c300005
setenv fit_addr 0x50000000
setenv e_vars boot_slot upgrade_available bootcount bootlimit
setenv bpart ${devtype} ${devnum}:${distro_bootpart}

# Defaults when no valid copy exists.
setenv boot_slot A
setenv upgrade_available 0
setenv bootcount 0
setenv bootlimit 3

mw.b ${e_raw1} 0 ${e_size}
mw.b ${e_raw2} 0 ${e_size}
setenv v1 0
setenv v2 0
if load ${bpart} ${e_raw1} uboot.env; then setenv v1 1; fi
if load ${bpart} ${e_raw2} uboot-redund.env; then setenv v2 1; fi
setexpr.b f1 *${e_raw1f}
setexpr.b f2 *${e_raw2f}
# imp1/imp2 rebuild "CRC + data" (without the flag byte) and import it; env import checks the CRC.
setenv imp1 'test ${v1} = 1 && cp.b ${e_raw1} ${e_buf} 4 && cp.b ${e_raw1d} ${e_bufd} ${e_dsz} && env import -c ${e_buf} ${e_isz} ${e_vars}'
setenv imp2 'test ${v2} = 1 && cp.b ${e_raw2} ${e_buf} 4 && cp.b ${e_raw2d} ${e_bufd} ${e_dsz} && env import -c ${e_buf} ${e_isz} ${e_vars}'
# Copy 1 is newer when (f1 - f2) mod 256 < 0x80 (the flag counts up and wraps).
setexpr e_d 100 + ${f1}
setexpr e_d ${e_d} - ${f2}
setexpr e_d ${e_d} % 100
setexpr e_d ${e_d} / 80
setenv e_cur 0
setenv e_flag 0
if test "${e_d}" = "0"; then
        if run imp1; then setenv e_cur 1; setenv e_flag ${f1}; elif run imp2; then setenv e_cur 2; setenv e_flag ${f2}; fi
else
        if run imp2; then setenv e_cur 2; setenv e_flag ${f2}; elif run imp1; then setenv e_cur 1; setenv e_flag ${f1}; fi
fi
if test "${e_cur}" = "0"; then echo "alder: no valid U-Boot env copy, using defaults"; fi

setenv e_dirty 0
if test "${upgrade_available}" = "1"; then
        setexpr bootcount ${bootcount} + 1
        setenv e_dirty 1
        setexpr e_left ${bootlimit} - ${bootcount}
        setexpr e_neg ${e_left} / 8000000000000000
        if test "${e_neg}" = "1"; then
                echo "alder: slot ${boot_slot} failed ${bootlimit} tries, rolling back"
                if test "${boot_slot}" = "A"; then setenv boot_slot B; else setenv boot_slot A; fi
                setenv upgrade_available 0
                setenv bootcount 0
        fi
fi
if test "${e_cur}" = "0"; then setenv e_dirty 1; fi

if test "${e_dirty}" = "1"; then
        setexpr e_nflag ${e_flag} + 1
        setexpr e_nflag ${e_nflag} % 100
        mw.b ${e_out} 0 ${e_size}
        env export -c -s ${e_isz} ${e_buf} ${e_vars}
        cp.b ${e_buf} ${e_out} 4
        mw.b ${e_outf} ${e_nflag} 1
        cp.b ${e_bufd} ${e_outd} ${e_dsz}
        if test "${e_cur}" = "1"; then setenv e_file uboot-redund.env; else setenv e_file uboot.env; fi
        if fatwrite ${bpart} ${e_out} ${e_file} ${e_size}; then
                echo "alder: env saved to ${e_file} (bootcount=${bootcount} flag=${e_nflag})"
        else
                echo "alder: cannot write ${e_file}"
        fi
fi

if test "${boot_slot}" = "B"; then setenv other A; else setenv boot_slot A; setenv other B; fi
for s in ${boot_slot} ${other}; do
        echo "alder: booting slot ${s} (fit-${s}.itb)"
        setenv bootargs console=ttyAMA0 quiet panic=5 alder.slot=${s}
        if load ${bpart} ${fit_addr} fit-${s}.itb; then
                bootm ${fit_addr}
        fi
        echo "alder: slot ${s} did not boot (missing, or refused by verification)"
done
echo "ALDER-BOOT-FAILED: no slot could be booted"
