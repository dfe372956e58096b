using System.Collections.Concurrent;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PruneFuse.Learning.Runtime;

namespace PruneFuse.Grains.Compute;

/// <summary>
/// The silo's torch worker. TorchSharp's grad mode and dispose scopes are thread-local, so all torch work runs
/// synchronously on one dedicated thread, off the Orleans scheduler; grains await it.
/// </summary>
public sealed class TorchWorker : IDisposable
{
    private readonly BlockingCollection<Action> _queue = new();
    private readonly Thread _worker;
    private readonly ILogger<TorchWorker> _logger;
    private readonly int _torchThreads;

    /// <summary>Starts the worker thread. Torch work stops between batches once <paramref name="lifetime"/> says the silo is stopping.</summary>
    public TorchWorker(ILocalSiloDetails silo, ILogger<TorchWorker> logger, IHostApplicationLifetime? lifetime = null, ComputeOptions? options = null)
    {
        _torchThreads = options?.TorchThreads ?? 0;
        Stopping = lifetime?.ApplicationStopping ?? CancellationToken.None;
        SiloName = silo.SiloAddress.ToParsableString(); // the form `cluster status` shows
        _logger = logger;
        _worker = new Thread(Loop) { IsBackground = true, Name = "prunefuse-compute" };
        _worker.Start();
    }

    /// <summary>This silo's address, reported with results so placement can be checked.</summary>
    public string SiloName { get; }

    /// <summary>
    /// Cancelled when the silo begins to stop. Every torch job observes it between batches, so a SIGTERM ends the
    /// running step within a batch on any host instead of holding grain deactivation for the rest of the step.
    /// </summary>
    public CancellationToken Stopping { get; }

    /// <summary>
    /// Runs <paramref name="work"/> on the compute thread with a token that fires when <paramref name="cancellationToken"/>
    /// does or the silo stops; long work checks it between batches.
    /// </summary>
    public async Task<T> Run<T>(Func<CancellationToken, T> work, CancellationToken cancellationToken = default)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, Stopping);
        var token = linked.Token;
        return await Run(() => work(token), token).ConfigureAwait(false);
    }

    private void Loop()
    {
        try
        {
            // Load libtorch once up front so a host fault it works around is in the silo log, not only in a test.
            TorchRuntime.EnsureLoaded();
            if (TorchRuntime.OneDnnWorkaround is { } workaround) _logger.LogWarning("libtorch: {Workaround}", workaround);
            if (_torchThreads > 0)
            {
                TorchSharp.torch.set_num_threads(_torchThreads);
                _logger.LogInformation("libtorch threads: {Threads} (PruneFuse:Compute:TorchThreads)", TorchSharp.torch.get_num_threads());
            }
        }
        catch (TorchUnavailableException)
        {
            // Every job reports it with the loader's reason.
        }
        foreach (var work in _queue.GetConsumingEnumerable()) work();
    }

    /// <summary>Runs <paramref name="work"/> on the compute thread; a job cancelled while still queued never starts.</summary>
    public Task<T> Run<T>(Func<T> work, CancellationToken cancellationToken = default)
    {
        var tcs = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = 0;
        // A queued job behind a long one answers its cancellation at once instead of when the worker reaches it.
        var registration = cancellationToken.Register(() =>
        {
            if (Interlocked.CompareExchange(ref started, -1, 0) == 0) tcs.TrySetCanceled(cancellationToken);
        });
        _queue.Add(() =>
        {
            using (registration)
            {
                if (Interlocked.CompareExchange(ref started, 1, 0) != 0 || cancellationToken.IsCancellationRequested)
                {
                    tcs.TrySetCanceled(cancellationToken);
                    return;
                }
                try
                {
                    TorchRuntime.EnsureLoaded();
                    tcs.TrySetResult(work());
                }
                catch (OperationCanceledException e)
                {
                    tcs.TrySetCanceled(e.CancellationToken);
                }
                catch (Exception e)
                {
                    tcs.TrySetException(e);
                }
            }
        }, CancellationToken.None);
        return tcs.Task;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _queue.CompleteAdding();
        // The queue is disposed only once the worker has drained it; otherwise it is left to the process exit.
        // Running jobs observe Stopping between batches, so this wait is short on any host.
        if (_worker.Join(TimeSpan.FromSeconds(10))) _queue.Dispose();
    }
}
