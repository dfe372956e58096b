using PruneFuse.Grains.Storage;
using PruneFuse.Learning.Data;
using PruneFuse.Learning.Runtime;

namespace PruneFuse.Grains.Hosting;

/// <summary>
/// Our own exception types (the learning core's <see cref="DataFormatException"/>, the store's not-found and
/// conflict errors) are not Orleans-serializable, so a caller would see "could not find a codec" instead of the
/// problem. This filter re-throws them as the matching BCL exception with the same message.
/// </summary>
public sealed class ErrorTranslationFilter : IIncomingGrainCallFilter
{
    /// <inheritdoc />
    public async Task Invoke(IIncomingGrainCallContext context)
    {
        try
        {
            await context.Invoke();
        }
        catch (DataFormatException e)
        {
            throw new InvalidDataException(e.Message);
        }
        catch (ArtifactNotFoundException e)
        {
            throw new FileNotFoundException(e.Message);
        }
        catch (ArtifactConflictException e)
        {
            throw new InvalidOperationException(e.Message);
        }
        catch (TorchUnavailableException e)
        {
            throw new InvalidOperationException(e.Message);
        }
    }
}
