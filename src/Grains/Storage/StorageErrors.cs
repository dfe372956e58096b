namespace PruneFuse.Grains.Storage;

/// <summary>Classifies storage failures that no retry can fix.</summary>
public static class StorageErrors
{
    // Linux errno values that .NET carries in IOException.HResult for unmapped I/O errors.
    private const int NoSpace = 28;      // ENOSPC
    private const int QuotaExceeded = 122; // EDQUOT

    /// <summary>True when <paramref name="e"/> says the disk (or the user's quota) is full.</summary>
    public static bool IsDiskFull(IOException e) =>
        e.HResult is NoSpace or QuotaExceeded ||
        e.Message.Contains("No space left on device", StringComparison.OrdinalIgnoreCase) ||
        e.Message.Contains("Disk quota exceeded", StringComparison.OrdinalIgnoreCase);
}
