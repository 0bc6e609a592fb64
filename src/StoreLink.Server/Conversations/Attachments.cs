using System.Security.Cryptography;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Data;
using StoreLink.Server.Http;

namespace StoreLink.Server.Conversations;

public sealed class AttachmentRow
{
    public const string Columns = "id, org_id, uploader_id, name, content_type, size, sha256, created_at";

    public string Id { get; set; } = "";
    public string OrgId { get; set; } = "";
    public string UploaderId { get; set; } = "";
    public string Name { get; set; } = "";
    public string ContentType { get; set; } = "";
    public long Size { get; set; }
    public string Sha256 { get; set; } = "";
    public long CreatedAt { get; set; }

    public AttachmentDto ToDto() => new(Id, Name, ContentType, Size, Sha256);
}

/// <summary><c>Messages:*</c> — limits of message content.</summary>
public sealed class MessageOptions
{
    public int MaxTextLength { get; set; } = 5000;
    public long MaxAttachmentBytes { get; set; } = 25 * 1024 * 1024;
    public int MaxVoiceMilliseconds { get; set; } = 10 * 60 * 1000;

    internal bool IsValid() => MaxTextLength is > 0 and <= 100_000 && MaxAttachmentBytes is > 0 and <= 2L * 1024 * 1024 * 1024;
}

/// <summary>
/// Upload and download of attachments. Uploads are streamed to a temporary file while hashed, then kept once per
/// content under <c>{data}/attachments/ab/abcdef…</c>.
/// </summary>
public static class AttachmentsApi
{
    public static void MapAttachments(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/attachments").RequireAuthorization().WithTags("Attachments");
        group.MapPost("/", UploadAsync).DisableAntiforgery()
            .WithMetadata(new RequestSizeLimitMetadata());
        group.MapGet("/{id}", DownloadAsync);
    }

    private sealed class RequestSizeLimitMetadata : Microsoft.AspNetCore.Http.Metadata.IRequestSizeLimitMetadata
    {
        // The upload checks its own limit (Messages:MaxAttachmentBytes) while streaming; Kestrel's 1 MiB does not apply.
        public long? MaxRequestBodySize => null;
    }

    private static async Task<IResult> UploadAsync(HttpContext http, CurrentUser user, AttachmentStore store, CancellationToken ct)
    {
        if (user.IsApiClient)
            throw ApiException.Forbidden("API keys do not upload attachments yet.");
        var boundary = http.Request.ContentType is { } type && MediaTypeHeaderValue.TryParse(type, out var media)
            ? HeaderUtilities.RemoveQuotes(media.Boundary).Value : null;
        if (string.IsNullOrEmpty(boundary))
            throw ApiException.Invalid("Send the file as multipart/form-data in a field named 'file'.");
        var reader = new MultipartReader(boundary, http.Request.Body);
        while (await reader.ReadNextSectionAsync(ct) is { } section)
        {
            if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition) ||
                disposition.Name.Value?.Trim('"') != "file" || !disposition.IsFileDisposition())
                continue;
            var name = disposition.FileNameStar.Value ?? disposition.FileName.Value?.Trim('"') ?? "file";
            var attachment = await store.SaveAsync(user, section.Body, name, section.ContentType, ct);
            return TypedResults.Created($"/v1/attachments/{attachment.Id}", attachment.ToDto());
        }
        throw ApiException.Invalid("No file: send it in a multipart field named 'file'.");
    }

    private static async Task<IResult> DownloadAsync(string id, HttpContext http, CurrentUser user, Access access, AttachmentStore store, CancellationToken ct)
    {
        var attachment = await access.AttachmentAsync(user, id, ct);
        var inline = FileTypes.IsInline(attachment.ContentType);
        var headers = http.Response.Headers;
        headers.XContentTypeOptions = "nosniff";
        headers.ContentSecurityPolicy = "default-src 'none'; sandbox";
        headers.CacheControl = "private, max-age=86400";
        var disposition = new ContentDispositionHeaderValue(inline ? "inline" : "attachment");
        disposition.SetHttpFileName(attachment.Name);
        headers.ContentDisposition = disposition.ToString();
        // Anything a browser could run is sent as a download of an opaque type.
        var contentType = inline ? attachment.ContentType : FileTypes.Binary;
        return TypedResults.File(store.OpenRead(attachment.Sha256), contentType, enableRangeProcessing: true);
    }
}

public sealed class AttachmentStore(Db db, TimeProvider clock, IOptions<ServerOptions> server, IOptions<MessageOptions> options)
{
    private string Root => Path.Combine(Path.GetFullPath(server.Value.DataDirectory), "attachments");

    public Stream OpenRead(string sha256) =>
        new FileStream(PathOf(sha256), FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024, useAsync: true);

    private string PathOf(string sha256) => Path.Combine(Root, sha256[..2], sha256);

    public async Task<AttachmentRow> SaveAsync(CurrentUser user, Stream body, string name, string? declaredType, CancellationToken ct)
    {
        var limit = options.Value.MaxAttachmentBytes;
        Directory.CreateDirectory(Root);
        var temp = Path.Combine(Root, $"upload-{Guid.NewGuid():N}.tmp");
        try
        {
            long size = 0;
            var head = new byte[FileTypes.HeaderLength];
            var headLength = 0;
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 64 * 1024, useAsync: true))
            {
                var buffer = new byte[64 * 1024];
                int read;
                while ((read = await body.ReadAsync(buffer, ct)) > 0)
                {
                    size += read;
                    if (size > limit)
                        throw new ApiException(ErrorCodes.TooLarge, $"Attachments are at most {limit / (1024 * 1024)} MB.");
                    if (headLength < head.Length)
                    {
                        var take = Math.Min(read, head.Length - headLength);
                        buffer.AsSpan(0, take).CopyTo(head.AsSpan(headLength));
                        headLength += take;
                    }
                    sha.AppendData(buffer, 0, read);
                    await file.WriteAsync(buffer.AsMemory(0, read), ct);
                }
                await file.FlushAsync(ct);
                file.Flush(flushToDisk: true);
            }
            if (size == 0)
                throw ApiException.Invalid("The file is empty.");
            var contentType = FileTypes.Decide(declaredType, FileTypes.Sniff(head.AsSpan(0, headLength)))
                ?? throw ApiException.Invalid("The file's content does not match its declared type.");

            var sha256 = Convert.ToHexStringLower(sha.GetHashAndReset());
            var target = PathOf(sha256);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            if (!File.Exists(target))
                File.Move(temp, target, overwrite: true);

            var row = new AttachmentRow
            {
                Id = Ids.New("att", clock), OrgId = user.OrgId, UploaderId = user.Id, Name = CleanName(name),
                ContentType = contentType, Size = size, Sha256 = sha256, CreatedAt = clock.GetUtcNow().ToUnixTimeMilliseconds(),
            };
            await db.ExecuteAsync($"INSERT INTO attachments ({AttachmentRow.Columns}) VALUES (@Id, @OrgId, @UploaderId, @Name, @ContentType, @Size, @Sha256, @CreatedAt)", row, ct);
            return row;
        }
        finally
        {
            if (File.Exists(temp))
                File.Delete(temp);
        }
    }

    private static string CleanName(string name)
    {
        name = Path.GetFileName(name.Replace('\\', '/'));
        name = new string(name.Where(c => !char.IsControl(c)).ToArray()).Trim();
        if (name.Length > 200)
            name = name[..200];
        return name.Length == 0 ? "file" : name;
    }
}
