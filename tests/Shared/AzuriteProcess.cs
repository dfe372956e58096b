using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Azure.Storage.Blobs;

namespace PruneFuse.Tests.Shared;

/// <summary>
/// Starts a real Azurite (the Azure Storage emulator) on free loopback ports for the tests and benchmarks that
/// need Azure Storage, and stops it afterwards. Azurite is installed by scripts/test.sh into .tools/azurite; if it
/// is missing, start-up fails loudly: these tests never skip.
/// </summary>
public class AzuriteProcess : IAsyncDisposable
{
    // Azurite's documented development account; not a secret.
    private const string Account = "devstoreaccount1";
    /// <summary>The development account's key, which the silos must never print.</summary>
    public const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private Process? _process;
    private string? _dataDir;

    public int BlobPort { get; private set; }

    public int TablePort { get; private set; }

    public int QueuePort { get; private set; }

    public string ConnectionString =>
        $"DefaultEndpointsProtocol=http;AccountName={Account};AccountKey={AccountKey};" +
        $"BlobEndpoint=http://127.0.0.1:{BlobPort}/{Account};QueueEndpoint=http://127.0.0.1:{QueuePort}/{Account};TableEndpoint=http://127.0.0.1:{TablePort}/{Account};";

    public BlobServiceClient BlobService => new(ConnectionString);

    public Azure.Data.Tables.TableServiceClient TableService => new(ConnectionString);

    public static string LocateAzurite()
    {
        var env = Environment.GetEnvironmentVariable("PRUNEFUSE_AZURITE");
        if (!string.IsNullOrEmpty(env))
        {
            return File.Exists(env) ? env : throw new MissingPrerequisiteException($"PRUNEFUSE_AZURITE={env} does not exist");
        }
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "PruneFuse.sln")))
            {
                var bin = Path.Combine(dir.FullName, ".tools", "azurite", "node_modules", ".bin", "azurite");
                if (File.Exists(bin)) return bin;
                throw new MissingPrerequisiteException(
                    $"Azurite is not installed at {bin}. Install it with `bash -c 'source scripts/prerequisites.sh && ensure_azurite'` (npm), or run `bash scripts/test.sh`, which installs it.");
            }
        }
        throw new MissingPrerequisiteException("cannot find the repository root (PruneFuse.sln) to locate Azurite; set PRUNEFUSE_AZURITE");
    }

    public async ValueTask InitializeAsync()
    {
        var azurite = LocateAzurite();
        BlobPort = Ports.Free();
        QueuePort = Ports.Free();
        TablePort = Ports.Free();
        _dataDir = Directory.CreateTempSubdirectory("prunefuse-azurite-").FullName;
        var psi = new ProcessStartInfo(azurite)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[]
        {
            "--silent", "--skipApiVersionCheck", "--loose", "--location", _dataDir,
            "--blobHost", "127.0.0.1", "--blobPort", BlobPort.ToString(),
            "--queueHost", "127.0.0.1", "--queuePort", QueuePort.ToString(),
            "--tableHost", "127.0.0.1", "--tablePort", TablePort.ToString(),
        })
        {
            psi.ArgumentList.Add(a);
        }
        _process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {azurite}");
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        foreach (var port in new[] { BlobPort, TablePort, QueuePort })
        {
            while (true)
            {
                if (_process.HasExited) throw new InvalidOperationException($"Azurite exited with code {_process.ExitCode} during start-up");
                try
                {
                    using var c = new TcpClient();
                    await c.ConnectAsync(IPAddress.Loopback, port);
                    break;
                }
                catch (SocketException) when (DateTime.UtcNow < deadline)
                {
                    await Task.Delay(100);
                }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process?.Dispose();
        if (_dataDir is not null)
        {
            try { Directory.Delete(_dataDir, recursive: true); } catch (IOException) { }
        }
    }
}

/// <summary>Something a test or benchmark needs is not installed; the message says what and how to install it.</summary>
public sealed class MissingPrerequisiteException(string message) : InvalidOperationException(message);
