using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

// Build-time task: copies an ELF shared library and marks selected version needs (Vernaux entries of
// .gnu.version_r) weak when the system libstdc++ does not provide them. Idempotent.
public class WeakenElfVersionNeeds : Task
{
    [Required] public string SourceFile { get; set; }
    [Required] public string DestinationFile { get; set; }
    [Required] public string Versions { get; set; }

    private static readonly string[] LibStdCxxCandidates =
    {
        "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6",
        "/usr/lib64/libstdc++.so.6", "/lib64/libstdc++.so.6", "/usr/lib/libstdc++.so.6",
        "/usr/lib/aarch64-linux-gnu/libstdc++.so.6",
    };

    public override bool Execute()
    {
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(DestinationFile));
            var bytes = File.ReadAllBytes(SourceFile);
            var wanted = Versions.Split(new[] { ';', ',' }, StringSplitOptions.RemoveEmptyEntries).Select(v => v.Trim()).ToList();
            var systemLib = LibStdCxxCandidates.FirstOrDefault(File.Exists);
            var missing = systemLib == null ? wanted : wanted.Where(v => !ContainsAscii(File.ReadAllBytes(systemLib), v)).ToList();
            int changed = 0;
            if (missing.Count > 0)
            {
                changed = Weaken(bytes, new HashSet<string>(missing));
            }
            var existing = File.Exists(DestinationFile) ? File.ReadAllBytes(DestinationFile) : null;
            if (existing == null || !existing.SequenceEqual(bytes))
            {
                File.WriteAllBytes(DestinationFile, bytes);
            }
            Log.LogMessage(MessageImportance.Normal,
                missing.Count == 0
                    ? $"TorchSharp native fix not needed: {systemLib} provides {string.Join(", ", wanted)}"
                    : $"TorchSharp native fix: marked {changed} version need(s) [{string.Join(", ", missing)}] weak in {DestinationFile}");
            return true;
        }
        catch (Exception e)
        {
            Log.LogError($"Could not prepare {SourceFile} for this system's libstdc++: {e.Message}");
            return false;
        }
    }

    private static bool ContainsAscii(byte[] haystack, string needle)
    {
        // Version names are NUL-terminated in .dynstr: match the whole name, not a prefix (3.4.3 vs 3.4.32).
        var n = Encoding.ASCII.GetBytes(needle + "\0");
        for (int i = 0; i + n.Length <= haystack.Length; i++)
        {
            if (haystack[i] != n[0]) continue;
            int j = 1;
            while (j < n.Length && haystack[i + j] == n[j]) j++;
            if (j == n.Length) return true;
        }
        return false;
    }

    private static int Weaken(byte[] b, HashSet<string> names)
    {
        if (b.Length < 64 || b[0] != 0x7f || b[1] != (byte)'E' || b[2] != (byte)'L' || b[3] != (byte)'F')
            throw new InvalidDataException("not an ELF file");
        if (b[4] != 2 || b[5] != 1) throw new InvalidDataException("only 64-bit little-endian ELF is supported");
        long shoff = (long)BitConverter.ToUInt64(b, 0x28);
        int shentsize = BitConverter.ToUInt16(b, 0x3A);
        int shnum = BitConverter.ToUInt16(b, 0x3C);
        int count = 0;
        for (int s = 0; s < shnum; s++)
        {
            long sh = shoff + (long)s * shentsize;
            uint type = BitConverter.ToUInt32(b, (int)sh + 4);
            if (type != 0x6ffffffe) continue; // SHT_GNU_verneed
            long off = (long)BitConverter.ToUInt64(b, (int)sh + 24);
            uint link = BitConverter.ToUInt32(b, (int)sh + 40);
            uint entries = BitConverter.ToUInt32(b, (int)sh + 44);
            long strSh = shoff + (long)link * shentsize;
            long strOff = (long)BitConverter.ToUInt64(b, (int)strSh + 24);
            long vn = off;
            for (uint e = 0; e < entries; e++)
            {
                int cnt = BitConverter.ToUInt16(b, (int)vn + 2);
                long aux = vn + BitConverter.ToUInt32(b, (int)vn + 8);
                for (int a = 0; a < cnt; a++)
                {
                    uint nameOff = BitConverter.ToUInt32(b, (int)aux + 8);
                    string name = ReadCString(b, strOff + nameOff);
                    if (names.Contains(name))
                    {
                        ushort flags = BitConverter.ToUInt16(b, (int)aux + 4);
                        if ((flags & 0x2) == 0)
                        {
                            flags |= 0x2; // VER_FLG_WEAK
                            b[aux + 4] = (byte)(flags & 0xff);
                            b[aux + 5] = (byte)(flags >> 8);
                        }
                        count++;
                    }
                    uint next = BitConverter.ToUInt32(b, (int)aux + 12);
                    if (next == 0) break;
                    aux += next;
                }
                uint vnNext = BitConverter.ToUInt32(b, (int)vn + 12);
                if (vnNext == 0) break;
                vn += vnNext;
            }
        }
        return count;
    }

    private static string ReadCString(byte[] b, long offset)
    {
        long end = offset;
        while (end < b.Length && b[end] != 0) end++;
        return Encoding.ASCII.GetString(b, (int)offset, (int)(end - offset));
    }
}
