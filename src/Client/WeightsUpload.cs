using System.Security.Cryptography;
using PruneFuse.Grains.Interfaces;

namespace PruneFuse.Client;

/// <summary>Sends a weights file for <c>--init-weights</c> to the cluster in parts, once per distinct file.</summary>
public static class WeightsUpload
{
    /// <summary>
    /// Uploads <paramref name="argument"/> (a file path, or <c>sha256:HEX</c> of a file uploaded before) unless the
    /// cluster has it already; returns its SHA-256.
    /// </summary>
    public static async Task<string> UploadAsync(IClusterClient client, string argument, bool json, CancellationToken cancellationToken)
    {
        if (argument.StartsWith("sha256:", StringComparison.OrdinalIgnoreCase))
        {
            var digest = argument[7..].Trim().ToLowerInvariant();
            if (await client.GetGrain<IWeightsGrain>(digest).StoredLength() is null)
            {
                throw new ClientException($"--init-weights {argument}: the cluster has no weights with that digest; pass the file itself");
            }
            return digest;
        }
        var path = Path.GetFullPath(argument);
        if (!File.Exists(path)) throw new ClientException($"--init-weights: no file '{argument}' (looked for {path})");
        var length = new FileInfo(path).Length;
        if (length == 0) throw new ClientException($"--init-weights: '{argument}' is empty");
        if (length > IWeightsGrain.MaxBytes) throw new ClientException($"--init-weights: '{argument}' is {length >> 20} MiB; at most {IWeightsGrain.MaxBytes >> 20} MiB are accepted");
        string sha;
        await using (var f = File.OpenRead(path)) sha = Convert.ToHexStringLower(await SHA256.HashDataAsync(f, cancellationToken));
        var grain = client.GetGrain<IWeightsGrain>(sha);
        if (await grain.StoredLength() == length) return sha;
        var buffer = new byte[IWeightsGrain.MaxPartBytes];
        long sent = 0;
        await using (var f = File.OpenRead(path))
        {
            while (sent < length)
            {
                var n = await f.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, cancellationToken);
                await grain.Append(sent, buffer.AsSpan(0, n).ToArray());
                sent += n;
                if (!json) Console.WriteLine($"uploading {Path.GetFileName(path)}: {sent >> 20} of {length >> 20} MiB");
            }
        }
        var tensors = await grain.Commit(length);
        if (!json) Console.WriteLine($"uploaded {Path.GetFileName(path)} ({tensors} tensors, sha256:{sha})");
        return sha;
    }
}
