//! The message flags shared by `validate` and `send`.

use std::path::PathBuf;

use super::{Composer, MessageFormat, Template};

#[derive(Debug, Clone, clap::Args)]
pub struct MessageArgs {
    /// Make each row's message from this template: {{column}} is replaced by the row's value
    /// in that column (HTML-escaped), {{ticketId}} by its ticket; rows then need only a
    /// ticketId column
    #[arg(long, value_name = "FILE")]
    pub template: Option<PathBuf>,

    /// How messages (the template, or else the message column) are written: html is posted
    /// as is, text and markdown are converted to HTML [default: from the template's
    /// extension (.html, .txt, .md), else html]
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub message_format: Option<MessageFormat>,

    /// Show the first N messages exactly as they will be posted, with their ticket and line
    /// (validate, and send with --dry-run)
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub preview: usize,
}

impl MessageArgs {
    /// Loads the template, settles the format. Errors are for the user (exit 2).
    pub fn composer(&self) -> Result<Composer, String> {
        let Some(path) = &self.template else {
            return Composer::new(None, self.message_format.unwrap_or_default());
        };
        let template = Template::load(path)?;
        let format = match self
            .message_format
            .or_else(|| MessageFormat::of_extension(path))
        {
            Some(format) => format,
            None => {
                return Err(format!(
                    "cannot tell the template's format from its name {}: name it .html, .txt \
                     or .md, or pass --message-format html|text|markdown",
                    path.display()
                ));
            }
        };
        Composer::new(Some(template), format)
    }
}
