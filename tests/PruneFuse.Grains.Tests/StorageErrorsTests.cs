using PruneFuse.Grains.Storage;

namespace PruneFuse.Grains.Tests;

/// <summary>A full disk is a permanent error (failed at once, named), never a transient one retried five times.</summary>
public sealed class StorageErrorsTests
{
    [Fact]
    public void A_write_to_a_full_device_is_recognised_as_disk_full()
    {
        // /dev/full answers every write with ENOSPC: the same IOException a full data disk gives.
        var e = Assert.ThrowsAny<IOException>(() =>
        {
            using var full = new FileStream("/dev/full", FileMode.Open, FileAccess.Write, FileShare.ReadWrite, 1);
            full.Write(new byte[4096]);
            full.Flush();
        });
        Assert.True(StorageErrors.IsDiskFull(e), $"{e.GetType().Name} (HResult {e.HResult}): {e.Message}");
    }

    [Fact]
    public void Other_io_errors_are_not_disk_full()
    {
        Assert.False(StorageErrors.IsDiskFull(new IOException("connection reset by peer")));
        Assert.False(StorageErrors.IsDiskFull(new FileNotFoundException("gone")));
    }
}
