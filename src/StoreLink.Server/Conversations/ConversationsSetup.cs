namespace StoreLink.Server.Conversations;

public static class ConversationsSetup
{
    public static WebApplicationBuilder AddConversations(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<MessageOptions>().BindConfiguration("Messages")
            .Validate(o => o.IsValid(), "Messages: text length 1–100000, attachments up to 2 GiB.").ValidateOnStart();
        builder.Services.AddSingleton<ConversationDirectory>();
        builder.Services.AddSingleton<ConversationActions>();
        builder.Services.AddSingleton<MessageActions>();
        builder.Services.AddOptions<UploadOptions>().BindConfiguration("Uploads")
            .Validate<Microsoft.Extensions.Options.IOptions<MessageOptions>>((o, messages) => o.IsValid(messages.Value.MaxAttachmentBytes),
                "Uploads: limits 0 (none) or positive, byte limits at least Messages:MaxAttachmentBytes, window, grace period and sweep interval positive.")
            .ValidateOnStart();
        builder.Services.AddSingleton<UploadLimits>();
        builder.Services.AddSingleton<SystemPosts>();
        builder.Services.AddSingleton<AttachmentStore>();
        builder.Services.AddHostedService<AttachmentSweeper>();
        builder.Services.AddSingleton<MessageWriter>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<MessageWriter>());
        return builder;
    }

    public static void MapConversationsFeature(this IEndpointRouteBuilder app)
    {
        app.MapConversations();
        app.MapAttachments();
    }
}
